// What a launcher needs from Debian, declared beside its code; `npm test` installs the missing ones.

/** A file the tests run and the Debian package that puts it there. */
export interface Requirement {
  /** What the tests run, as the installer names it when it is missing. */
  readonly name: string;
  /** Where Debian puts it: missing here means not installed. */
  readonly path: string;
  readonly pkg: string;
}
