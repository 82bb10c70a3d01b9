export { isHostName, isHostOrAddress, isPort } from './address.js';
export { entryClaims, keyKind, keyTag, listenNames, ownerProblem, type EntryClaim } from './claims.js';
export { DEFAULT_WEIGHT, entryProblem, parseEntry, sameEntry, SERVER_ROLES, TAG_PATTERN, type Entry, type EntryBody, type EntryServer, type EntryUse, type ServerRole } from './entry.js';
export { BUNDLE_KEY, CONFIG_PREFIX, entryKey, lockKey, locksPrefix, maintenanceKey, maintenancePrefix, membersPrefix, prefixedKey, prefixProblem, ROOT, STATUS_PREFIX, statusKey, trimPrefix } from './keys.js';
