export { createTemplateEngine } from './engine.js';
export type { CatalogRecovery, RenderOptions, TemplateData, TemplateEngine, TemplateEngineOptions, TemplatePair } from './engine.js';
export { TemplateError } from './errors.js';
export type { TemplateErrorCode, TemplateErrorDetails } from './errors.js';
export { HELPER_NAMES, globToRegExp } from './helpers.js';
export type { EntryRecovery, KVPairView } from './helpers.js';
export { SERVICE_HELPERS } from './service.js';
export type { ServiceData, ServiceView } from './service.js';
