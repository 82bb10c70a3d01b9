// The parse tree of Go's text/template/parse/node.go, as plain data. `pos` is an offset in the
// template text; the executor turns it into line:column for messages.
export type Node =
  | ListNode | TextNode | CommentNode | ActionNode | PipeNode | CommandNode | IdentifierNode | VariableNode
  | DotNode | NilNode | FieldNode | ChainNode | BoolNode | NumberNode | StringNode | EndNode | ElseNode
  | BranchNode | BreakNode | ContinueNode | TemplateNode;

export interface ListNode { type: 'list'; pos: number; nodes: Node[] }
export interface TextNode { type: 'text'; pos: number; text: string }
export interface CommentNode { type: 'comment'; pos: number; text: string }
export interface ActionNode { type: 'action'; pos: number; line: number; pipe: PipeNode }
export interface PipeNode { type: 'pipe'; pos: number; line: number; isAssign: boolean; decl: VariableNode[]; cmds: CommandNode[] }
export interface CommandNode { type: 'command'; pos: number; args: Node[] }
export interface IdentifierNode { type: 'identifier'; pos: number; ident: string }
export interface VariableNode { type: 'variable'; pos: number; ident: string[] }
export interface DotNode { type: 'dot'; pos: number }
export interface NilNode { type: 'nil'; pos: number }
export interface FieldNode { type: 'field'; pos: number; ident: string[] }
export interface ChainNode { type: 'chain'; pos: number; node: Node; field: string[] }
export interface BoolNode { type: 'bool'; pos: number; value: boolean }
export interface NumberNode {
  type: 'number';
  pos: number;
  text: string;
  isInt: boolean;
  isUint: boolean;
  isFloat: boolean;
  int: bigint;
  float: number;
}
export interface StringNode { type: 'string'; pos: number; quoted: string; text: string }
export interface EndNode { type: 'end'; pos: number }
export interface ElseNode { type: 'else'; pos: number; line: number }
export interface BranchNode { type: 'if' | 'range' | 'with'; pos: number; line: number; pipe: PipeNode; list: ListNode; elseList: ListNode | undefined }
export interface BreakNode { type: 'break'; pos: number; line: number }
export interface ContinueNode { type: 'continue'; pos: number; line: number }
export interface TemplateNode { type: 'template'; pos: number; line: number; name: string; pipe: PipeNode | undefined }

/** A node as Go's String() writes it, for messages ("at <getv "/x">"). */
export function nodeString(n: Node | undefined): string {
  if (!n) return '';
  switch (n.type) {
    case 'list':
      return n.nodes.map(nodeString).join('');
    case 'text':
      return JSON.stringify(n.text);
    case 'comment':
      return `{{${n.text}}}`;
    case 'action':
      return `{{${nodeString(n.pipe)}}}`;
    case 'pipe': {
      const decl = n.decl.length ? `${n.decl.map(nodeString).join(', ')} ${n.isAssign ? '=' : ':='} ` : '';
      return decl + n.cmds.map(nodeString).join(' | ');
    }
    case 'command':
      return n.args.map((a) => (a.type === 'pipe' ? `(${nodeString(a)})` : nodeString(a))).join(' ');
    case 'identifier':
      return n.ident;
    case 'variable':
      return n.ident.join('.');
    case 'dot':
      return '.';
    case 'nil':
      return 'nil';
    case 'field':
      return n.ident.map((i) => `.${i}`).join('');
    case 'chain':
      return (n.node.type === 'pipe' ? `(${nodeString(n.node)})` : nodeString(n.node)) + n.field.map((f) => `.${f}`).join('');
    case 'bool':
      return String(n.value);
    case 'number':
      return n.text;
    case 'string':
      return n.quoted;
    case 'end':
      return '{{end}}';
    case 'else':
      return '{{else}}';
    case 'if':
    case 'range':
    case 'with':
      return `{{${n.type} ${nodeString(n.pipe)}}}${nodeString(n.list)}${n.elseList ? `{{else}}${nodeString(n.elseList)}` : ''}{{end}}`;
    case 'break':
      return '{{break}}';
    case 'continue':
      return '{{continue}}';
    case 'template':
      return n.pipe ? `{{template ${JSON.stringify(n.name)} ${nodeString(n.pipe)}}}` : `{{template ${JSON.stringify(n.name)}}}`;
  }
}
