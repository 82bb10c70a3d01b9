// A Go text/template interpreter. Start reading at value.ts (the values), then parse.ts and exec.ts.
export { compileGoTemplate } from './template.js';
export type { GoTemplate, GoTemplateOptions, GoRenderOptions } from './template.js';
export { GoTemplateError } from './errors.js';
export type { GoLocation, GoTemplateErrorCode } from './errors.js';
export { BUILTINS } from './builtins.js';
export { compareStrings, sprint, sprintf } from './fmt.js';
export { GoCallError, GoMap, GoOpaque, GoSlice, GoStruct, INTERFACE, Unsupported, int, stringSlice, typeOf } from './value.js';
export type { GoFunc, GoValue } from './value.js';
