export { createTemplateEngine } from './engine.js';
export type { TemplateEngine, TemplateEngineOptions, TemplatePair } from './engine.js';
export { TemplateError } from './errors.js';
export type { TemplateErrorCode } from './errors.js';
export { HELPER_NAMES, globToRegExp } from './helpers.js';
