/** The rule that picks the Go engine for a template file: confd's own convention, a .tmpl src. */
export const isGoTemplate = (src: string): boolean => src.endsWith('.tmpl');
