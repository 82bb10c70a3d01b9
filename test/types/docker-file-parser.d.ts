// docker-file-parser ships no types; what the Dockerfile replay uses of it.
declare module 'docker-file-parser' {
  export interface CommandEntry {
    name: string;
    args: string | string[] | Record<string, string>;
    lineno: number;
    raw: string;
  }
  export function parse(contents: string, options?: { includeComments?: boolean }): CommandEntry[];
}
