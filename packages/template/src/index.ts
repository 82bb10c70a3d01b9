// createTemplateEngine (Handlebars in this thread, no time limit) is '@confd-haproxy/template/engine':
// re-exported here it would load Handlebars with every importer of this package, once bundled.
export type { CatalogRecovery, RenderOptions, TemplateData, TemplateEngine, TemplateEngineOptions, TemplatePair } from './engine.js';
export { createIsolatedEngine } from './isolated.js';
export { createInlineEngine } from './inline.js';
export type { IsolatedEngine, IsolatedEngineOptions } from './isolated.js';
export { DEFAULT_RENDER_BUDGET, renderBudget } from './budget.js';
export type { RenderBudget } from './budget.js';
export { TemplateError } from './errors.js';
export type { TemplateErrorCode, TemplateErrorDetails } from './errors.js';
export { HELPER_NAMES, globToRegExp } from './helpers.js';
export type { EntryRecovery, KVPairView } from './helpers.js';
export { SERVICE_HELPERS } from './service.js';
export type { ServiceData, ServiceView } from './service.js';
export { CONFD_GO_FUNC_NAMES } from './go-funcs.js';
export { isGoTemplate } from './go-rule.js';
