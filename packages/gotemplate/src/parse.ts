// Go's text/template/parse/parse.go (Go 1.19): the same grammar, checks and error messages.
import { lex, type Item, type ItemType } from './lex.js';
import type { BranchNode, CommandNode, ElseNode, EndNode, ListNode, Node, NumberNode, PipeNode, TemplateNode, VariableNode } from './nodes.js';
import { nodeString } from './nodes.js';
import { goUnquote, parseNumber } from './literals.js';
import { Unsupported } from './value.js';

/** A parse failure at an offset of the text. */
export class ParseError extends Error {
  constructor(
    message: string,
    readonly pos: number,
  ) {
    super(message);
  }
}

/** Every template a file defines: the file's own (named `name`) and each {{define}}/{{block}}. */
export type TreeSet = Map<string, ListNode>;

const isEmptyTree = (n: Node): boolean => {
  switch (n.type) {
    case 'list':
      return n.nodes.every(isEmptyTree);
    case 'text':
      return n.text.trim() === '';
    case 'comment':
      return true;
    default:
      return false;
  }
};

/** Parse `text` as template `name`; `hasFunction` answers whether an identifier is a function. */
export function parseTemplate(name: string, text: string, hasFunction: (name: string) => boolean): TreeSet {
  const items = lex(text).filter((i) => i.type !== 'comment');
  const set: TreeSet = new Map();
  const last = items[items.length - 1];
  if (last?.type === 'error') throw new ParseError(last.val, last.pos);
  new Tree(name, items, set, hasFunction, 0).parseRoot();
  return set;
}

class Tree {
  #i: number;
  vars: string[] = ['$'];
  rangeDepth = 0;
  root: ListNode | undefined;

  constructor(
    readonly name: string,
    readonly items: Item[],
    readonly set: TreeSet,
    readonly hasFunction: (name: string) => boolean,
    at: number,
  ) {
    this.#i = at;
  }

  get at(): number {
    return this.#i;
  }

  next(): Item {
    return this.items[this.#i++] ?? this.items[this.items.length - 1]!;
  }
  backup(n = 1): void {
    this.#i -= n;
  }
  peek(): Item {
    return this.items[this.#i] ?? this.items[this.items.length - 1]!;
  }
  nextNonSpace(): Item {
    let t: Item;
    do t = this.next();
    while (t.type === 'space');
    return t;
  }
  peekNonSpace(): Item {
    const t = this.nextNonSpace();
    this.backup();
    return t;
  }
  errorf(msg: string, pos = this.items[Math.max(0, this.#i - 1)]?.pos ?? 0): never {
    throw new ParseError(msg, pos);
  }
  expect(type: ItemType, context: string): Item {
    const t = this.nextNonSpace();
    if (t.type !== type) this.unexpected(t, context);
    return t;
  }
  expectOneOf(a: ItemType, b: ItemType, context: string): Item {
    const t = this.nextNonSpace();
    if (t.type !== a && t.type !== b) this.unexpected(t, context);
    return t;
  }
  unexpected(t: Item, context: string): never {
    if (t.type === 'error') this.errorf(t.val, t.pos);
    this.errorf(`unexpected ${itemString(t)} in ${context}`, t.pos);
  }

  add(): void {
    const old = this.set.get(this.name);
    if (old === undefined || isEmptyTree(old)) {
      this.set.set(this.name, this.root!);
      return;
    }
    if (!isEmptyTree(this.root!)) this.errorf(`template: multiple definition of template ${JSON.stringify(this.name)}`, this.root!.pos);
  }

  parseRoot(): void {
    this.root = { type: 'list', pos: this.peek().pos, nodes: [] };
    while (this.peek().type !== 'eof') {
      if (this.peek().type === 'leftDelim') {
        const delim = this.next();
        if (this.nextNonSpace().type === 'define') {
          const def = new Tree('definition', this.items, this.set, this.hasFunction, this.at);
          def.parseDefinition();
          this.#i = def.at;
          continue;
        }
        this.#i = this.items.indexOf(delim);
      }
      const n = this.textOrAction();
      if (n.type === 'end' || n.type === 'else') this.errorf(`unexpected ${nodeString(n)}`, n.pos);
      this.root.nodes.push(n);
    }
    this.add();
  }

  parseDefinition(): void {
    const context = 'define clause';
    const name = this.expectOneOf('string', 'rawString', context);
    (this as { name: string }).name = this.unquote(name);
    this.expect('rightDelim', context);
    const [list, end] = this.itemList();
    if (end.type !== 'end') this.errorf(`unexpected ${nodeString(end)} in ${context}`, end.pos);
    this.root = list;
    this.add();
  }

  itemList(): [ListNode, Node] {
    const list: ListNode = { type: 'list', pos: this.peekNonSpace().pos, nodes: [] };
    while (this.peekNonSpace().type !== 'eof') {
      const n = this.textOrAction();
      if (n.type === 'end' || n.type === 'else') return [list, n];
      list.nodes.push(n);
    }
    return this.errorf('unexpected EOF', this.peek().pos);
  }

  textOrAction(): Node {
    const t = this.nextNonSpace();
    if (t.type === 'text') return { type: 'text', pos: t.pos, text: t.val };
    if (t.type === 'leftDelim') return this.action();
    return this.unexpected(t, 'input');
  }

  action(): Node {
    const t = this.nextNonSpace();
    const control = CONTROLS[t.type];
    if (control) return control(this, t);
    this.backup();
    const at = this.peek();
    return { type: 'action', pos: at.pos, line: at.line, pipe: this.pipeline('command', 'rightDelim') };
  }

  loopControl(kind: 'break' | 'continue', t: Item): Node {
    const after = this.nextNonSpace();
    if (after.type !== 'rightDelim') this.unexpected(after, `{{${kind}}}`);
    if (this.rangeDepth === 0) this.errorf(`{{${kind}}} outside {{range}}`, t.pos);
    return { type: kind, pos: t.pos, line: t.line };
  }

  elseControl(): ElseNode {
    const p = this.peekNonSpace();
    if (p.type === 'if') return { type: 'else', pos: p.pos, line: p.line };
    const t = this.expect('rightDelim', 'else');
    return { type: 'else', pos: t.pos, line: t.line };
  }

  branch(kind: 'if' | 'range' | 'with', allowElseIf: boolean): BranchNode {
    const mark = this.vars.length;
    try {
      const pipe = this.pipeline(kind, 'rightDelim');
      if (kind === 'range') this.rangeDepth++;
      const [list, next0] = this.itemList();
      if (kind === 'range') this.rangeDepth--;
      let next = next0;
      let elseList: ListNode | undefined;
      if (next.type === 'else') {
        if (allowElseIf && this.peek().type === 'if') {
          this.next();
          elseList = { type: 'list', pos: next.pos, nodes: [this.branch('if', true)] };
        } else {
          [elseList, next] = this.itemList();
          if (next.type !== 'end') this.errorf(`expected end; found ${nodeString(next)}`, next.pos);
        }
      }
      return { type: kind, pos: pipe.pos, line: pipe.line, pipe, list, elseList };
    } finally {
      this.vars.length = mark;
    }
  }

  parseTemplateName(t: Item, context: string): string {
    if (t.type === 'string' || t.type === 'rawString') return this.unquote(t);
    return this.unexpected(t, context);
  }

  blockControl(): TemplateNode {
    const context = 'block clause';
    const t = this.nextNonSpace();
    const name = this.parseTemplateName(t, context);
    const pipe = this.pipeline(context, 'rightDelim');
    const block = new Tree(name, this.items, this.set, this.hasFunction, this.at);
    const [list, end] = block.itemList();
    if (end.type !== 'end') this.errorf(`unexpected ${nodeString(end)} in ${context}`, end.pos);
    block.root = list;
    block.add();
    this.#i = block.at;
    return { type: 'template', pos: t.pos, line: t.line, name, pipe };
  }

  templateControl(): TemplateNode {
    const context = 'template clause';
    const t = this.nextNonSpace();
    const name = this.parseTemplateName(t, context);
    let pipe: PipeNode | undefined;
    if (this.nextNonSpace().type !== 'rightDelim') {
      this.backup();
      pipe = this.pipeline(context, 'rightDelim');
    }
    return { type: 'template', pos: t.pos, line: t.line, name, pipe };
  }

  pipeline(context: string, end: ItemType): PipeNode {
    const first = this.peekNonSpace();
    const pipe: PipeNode = { type: 'pipe', pos: first.pos, line: first.line, isAssign: false, decl: [], cmds: [] };
    decls: for (;;) {
      const v = this.peekNonSpace();
      if (v.type !== 'variable') break;
      this.nextNonSpace();
      const afterVar = this.peek();
      const next = this.peekNonSpace();
      if (next.type === 'assign' || next.type === 'declare') {
        pipe.isAssign = next.type === 'assign';
        this.nextNonSpace();
        pipe.decl.push({ type: 'variable', pos: v.pos, ident: v.val.split('.') });
        this.vars.push(v.val);
      } else if (next.type === 'char' && next.val === ',') {
        this.nextNonSpace();
        pipe.decl.push({ type: 'variable', pos: v.pos, ident: v.val.split('.') });
        this.vars.push(v.val);
        if (context === 'range' && pipe.decl.length < 2) {
          const p = this.peekNonSpace().type;
          if (p === 'variable' || p === 'rightDelim' || p === 'rightParen') continue decls;
          this.errorf('range can only initialize variables');
        }
        this.errorf(`too many declarations in ${context}`);
      } else if (afterVar.type === 'space') {
        // backup3: the variable and the space before the next token
        this.#i = this.items.indexOf(v);
      } else {
        this.#i = this.items.indexOf(v);
      }
      break;
    }
    for (;;) {
      const t = this.nextNonSpace();
      if (t.type === end) {
        this.checkPipeline(pipe, context, t);
        return pipe;
      }
      switch (t.type) {
        case 'bool': case 'charConstant': case 'complex': case 'dot': case 'field': case 'identifier':
        case 'number': case 'nil': case 'rawString': case 'string': case 'variable': case 'leftParen':
          this.backup();
          pipe.cmds.push(this.command());
          break;
        default:
          this.unexpected(t, context);
      }
    }
  }

  checkPipeline(pipe: PipeNode, context: string, t: Item): void {
    if (pipe.cmds.length === 0) this.errorf(`missing value for ${context}`, t.pos);
    pipe.cmds.slice(1).forEach((c, i) => {
      const k = c.args[0]!.type;
      if (k === 'bool' || k === 'dot' || k === 'nil' || k === 'number' || k === 'string') this.errorf(`non executable command in pipeline stage ${i + 2}`, c.pos);
    });
  }

  command(): CommandNode {
    const cmd: CommandNode = { type: 'command', pos: this.peekNonSpace().pos, args: [] };
    for (;;) {
      this.peekNonSpace();
      const operand = this.operand();
      if (operand) cmd.args.push(operand);
      const t = this.next();
      if (t.type === 'space') continue;
      if (t.type === 'rightDelim' || t.type === 'rightParen') this.backup();
      else if (t.type !== 'pipe') this.unexpected(t, 'operand');
      break;
    }
    if (cmd.args.length === 0) this.errorf('empty command', cmd.pos);
    return cmd;
  }

  operand(): Node | undefined {
    const node = this.term();
    if (!node) return undefined;
    if (this.peek().type !== 'field') return node;
    const fields: string[] = [];
    const pos = this.peek().pos;
    while (this.peek().type === 'field') fields.push(this.next().val.slice(1));
    switch (node.type) {
      case 'field':
        return { type: 'field', pos, ident: [...node.ident, ...fields] };
      case 'variable':
        return { type: 'variable', pos, ident: [...node.ident, ...fields] };
      case 'bool': case 'string': case 'number': case 'nil': case 'dot':
        return this.errorf(`unexpected . after term ${JSON.stringify(nodeString(node))}`, pos);
      default:
        return { type: 'chain', pos, node, field: fields };
    }
  }

  term(): Node | undefined {
    const t = this.nextNonSpace();
    switch (t.type) {
      case 'identifier':
        if (!this.hasFunction(t.val)) this.errorf(`function ${JSON.stringify(t.val)} not defined`, t.pos);
        return { type: 'identifier', pos: t.pos, ident: t.val };
      case 'dot':
        return { type: 'dot', pos: t.pos };
      case 'nil':
        return { type: 'nil', pos: t.pos };
      case 'variable':
        return this.useVar(t);
      case 'field':
        return { type: 'field', pos: t.pos, ident: t.val.slice(1).split('.') };
      case 'bool':
        return { type: 'bool', pos: t.pos, value: t.val === 'true' };
      case 'charConstant':
      case 'complex':
      case 'number':
        return this.number(t);
      case 'leftParen':
        return this.pipeline('parenthesized pipeline', 'rightParen');
      case 'string':
      case 'rawString':
        return { type: 'string', pos: t.pos, quoted: t.val, text: this.unquote(t) };
    }
    this.backup();
    return undefined;
  }

  number(t: Item): NumberNode {
    try {
      return { type: 'number', pos: t.pos, text: t.val, ...parseNumber(t.val, t.type === 'charConstant', t.type === 'complex') };
    } catch (err) {
      if (err instanceof Unsupported) throw Object.assign(err, { pos: t.pos });
      return this.errorf((err as Error).message, t.pos);
    }
  }

  unquote(t: Item): string {
    try {
      return goUnquote(t.val);
    } catch (err) {
      if (err instanceof Unsupported) throw Object.assign(err, { pos: t.pos });
      return this.errorf((err as Error).message, t.pos);
    }
  }

  useVar(t: Item): VariableNode {
    const ident = t.val.split('.');
    if (!this.vars.includes(ident[0]!)) this.errorf(`undefined variable ${JSON.stringify(ident[0])}`, t.pos);
    return { type: 'variable', pos: t.pos, ident };
  }
}

/** The keywords that start a control action, and how each is parsed. */
const CONTROLS: Partial<Record<ItemType, (tree: Tree, t: Item) => Node>> = {
  block: (tree) => tree.blockControl(),
  break: (tree, t) => tree.loopControl('break', t),
  continue: (tree, t) => tree.loopControl('continue', t),
  else: (tree) => tree.elseControl(),
  end: (tree) => ({ type: 'end', pos: tree.expect('rightDelim', 'end').pos }) satisfies EndNode,
  if: (tree) => tree.branch('if', true),
  range: (tree) => tree.branch('range', false),
  template: (tree) => tree.templateControl(),
  with: (tree) => tree.branch('with', false),
};

function itemString(t: Item): string {
  switch (t.type) {
    case 'eof':
      return 'EOF';
    case 'error':
      return t.val;
    case 'leftDelim': case 'rightDelim': case 'leftParen': case 'rightParen': case 'pipe': case 'assign': case 'declare': case 'space':
      return `<${t.val}>`;
    case 'block': case 'break': case 'continue': case 'define': case 'else': case 'end': case 'if': case 'nil': case 'range': case 'template': case 'with':
      return `<${t.val}>`;
  }
  return t.val.length > 10 ? `${JSON.stringify(t.val.slice(0, 10))}...` : JSON.stringify(t.val);
}
