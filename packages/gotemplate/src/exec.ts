// Go's text/template/exec.go (Go 1.19): walks the trees over Go values (value.ts), with Go's
// variable scoping, truth, argument conversion and printing. Whatever it cannot do as Go does
// throws Unsupported, and the template is refused at that node.
import type { GoTemplateErrorCode } from './errors.js';
import { printAction } from './fmt.js';
import { isTrue } from './builtins.js';
import { nodeString, type BranchNode, type ChainNode, type CommandNode, type FieldNode, type IdentifierNode, type ListNode, type Node, type NumberNode, type PipeNode, type TemplateNode, type VariableNode } from './nodes.js';
import type { TreeSet } from './parse.js';
import { GoCallError, GoMap, GoOpaque, GoSlice, GoStruct, INTERFACE, NO_FIELD, Unsupported, typeOf, type GoFunc, type GoValue } from './value.js';

/** Go's limit on nested {{template}} calls. */
const MAX_EXEC_DEPTH = 100_000;

/** A failure at a node: the caller turns `pos` into file:line:column. */
export class ExecError extends Error {
  constructor(
    readonly code: GoTemplateErrorCode,
    message: string,
    readonly pos: number,
    readonly templateName: string,
  ) {
    super(message);
  }
}

export interface ExecOptions {
  /** Every function a template may call: Go's builtins and confd's. */
  funcs: ReadonlyMap<string, GoFunc>;
  /** Called with each action's printed text before it is written (the injection guard); may throw. */
  onPrint?: (text: string, pos: number) => void;
  /** The output stops here (checked as it grows). */
  maxChars: number;
  tooLarge: () => Error;
}

const BREAK = Symbol('break');
const CONTINUE = Symbol('continue');
const MISSING = Symbol('missing');
type Final = GoValue | typeof MISSING;

const canBeNil = (typ: string) => typ === INTERFACE || typ === 'reflect.Value' || typ.startsWith('[]') || typ.startsWith('map[') || typ.startsWith('*') || typ === 'memkv.KVPairs';

/** Types a value of another named type converts to implicitly (Go's assignability of named and unnamed slices). */
const ASSIGNABLE: ReadonlyMap<string, string> = new Map([['memkv.KVPairs', '[]memkv.KVPair']]);

export function execute(set: TreeSet, name: string, dot: GoValue, opts: ExecOptions): string {
  const root = set.get(name);
  if (!root) throw new ExecError('GOTEMPLATE_EXEC', `no template ${JSON.stringify(name)}`, 0, name);
  const st = new State(set, name, opts);
  st.vars.push({ name: '$', value: dot });
  st.walk(dot, root);
  return st.out.join('');
}

class State {
  readonly out: string[] = [];
  #size = 0;
  vars: { name: string; value: GoValue }[] = [];
  depth = 0;
  #node: Node | undefined;

  constructor(
    readonly set: TreeSet,
    public tmpl: string,
    readonly opts: ExecOptions,
  ) {}

  at(n: Node): void {
    this.#node = n;
  }

  errorf(msg: string): never {
    const n = this.#node;
    const where = n ? `executing ${JSON.stringify(this.tmpl)} at <${nodeString(n).slice(0, 40)}>: ` : `executing ${JSON.stringify(this.tmpl)}: `;
    throw new ExecError('GOTEMPLATE_EXEC', where + msg, n?.pos ?? 0, this.tmpl);
  }

  unsupported(err: Unsupported): never {
    throw new ExecError('GOTEMPLATE_UNSUPPORTED', `${err.message}: Go would render this, but not byte for byte here; refused`, this.#node?.pos ?? 0, this.tmpl);
  }

  write(s: string): void {
    this.#size += s.length;
    if (this.#size > this.opts.maxChars) throw this.opts.tooLarge();
    this.out.push(s);
  }

  mark(): number {
    return this.vars.length;
  }
  pop(mark: number): void {
    this.vars.length = mark;
  }
  setTopVar(n: number, value: GoValue): void {
    this.vars[this.vars.length - n]!.value = value;
  }
  setVar(name: string, value: GoValue): void {
    for (let i = this.vars.length - 1; i >= 0; i--) {
      if (this.vars[i]!.name === name) {
        this.vars[i]!.value = value;
        return;
      }
    }
    this.errorf(`undefined variable: ${name}`);
  }
  varValue(name: string): GoValue {
    for (let i = this.vars.length - 1; i >= 0; i--) if (this.vars[i]!.name === name) return this.vars[i]!.value;
    return this.errorf(`undefined variable: ${name}`);
  }

  walk(dot: GoValue, node: Node): void {
    this.at(node);
    switch (node.type) {
      case 'action': {
        const val = this.evalPipeline(dot, node.pipe);
        if (node.pipe.decl.length === 0) this.printValue(node, val);
        return;
      }
      case 'break':
        throw BREAK;
      case 'continue':
        throw CONTINUE;
      case 'comment':
        return;
      case 'if':
      case 'with':
        return this.walkIfOrWith(dot, node);
      case 'list':
        for (const n of node.nodes) this.walk(dot, n);
        return;
      case 'range':
        return this.walkRange(dot, node);
      case 'template':
        return this.walkTemplate(dot, node);
      case 'text':
        return this.write(node.text);
    }
    this.errorf(`unknown node: ${nodeString(node)}`);
  }

  printValue(n: Node, v: GoValue): void {
    this.at(n);
    let text: string;
    try {
      text = printAction(v);
    } catch (err) {
      if (err instanceof Unsupported) this.unsupported(err);
      throw err;
    }
    this.opts.onPrint?.(text, n.pos);
    this.write(text);
  }

  walkIfOrWith(dot: GoValue, node: BranchNode): void {
    const mark = this.mark();
    try {
      const val = this.evalPipeline(dot, node.pipe);
      const truth = isTrue(val);
      if (truth === undefined) this.errorf(`if/with can't use ${printAction(val)}`);
      if (truth) this.walk(node.type === 'with' ? val : dot, node.list);
      else if (node.elseList) this.walk(dot, node.elseList);
    } finally {
      this.pop(mark);
    }
  }

  walkRange(dot: GoValue, r: BranchNode): void {
    this.at(r);
    const outer = this.mark();
    try {
      const val = this.evalPipeline(dot, r.pipe);
      const mark = this.mark();
      const one = (index: GoValue, elem: GoValue) => {
        if (r.pipe.decl.length > 0) this.setTopVar(1, elem);
        if (r.pipe.decl.length > 1) this.setTopVar(2, index);
        try {
          this.walk(elem, r.list);
        } catch (err) {
          if (err !== CONTINUE) throw err;
        } finally {
          this.pop(mark);
        }
      };
      if (val instanceof GoSlice) {
        if (val.items.length > 0) {
          try {
            for (let i = 0; i < val.items.length; i++) one(BigInt(i), val.items[i]);
          } catch (err) {
            if (err !== BREAK) throw err;
          }
          return;
        }
      } else if (val instanceof GoMap) {
        if (val.entries.size > 0) {
          const keys = [...val.entries.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
          if (keys.some((k) => /[\ud800-\udfff]/.test(k))) throw new Unsupported('ranging over a map with keys outside the Basic Multilingual Plane');
          try {
            for (const k of keys) one(k, val.entries.get(k));
          } catch (err) {
            if (err !== BREAK) throw err;
          }
          return;
        }
      } else if (val !== undefined) {
        this.at(r);
        this.errorf(`range can't iterate over ${printAction(val)}`);
      }
      if (r.elseList) this.walk(dot, r.elseList);
    } catch (err) {
      if (err instanceof Unsupported) this.unsupported(err);
      throw err;
    } finally {
      this.pop(outer);
    }
  }

  walkTemplate(dot: GoValue, t: TemplateNode): void {
    this.at(t);
    const tree = this.set.get(t.name);
    if (!tree) this.errorf(`template ${JSON.stringify(t.name)} not defined`);
    if (this.depth === MAX_EXEC_DEPTH) this.errorf(`exceeded maximum template depth (${MAX_EXEC_DEPTH})`);
    const newDot = t.pipe ? this.evalPipeline(dot, t.pipe) : undefined;
    const saved = { vars: this.vars, tmpl: this.tmpl };
    this.depth++;
    this.tmpl = t.name;
    this.vars = [{ name: '$', value: newDot }];
    try {
      this.walk(newDot, tree);
    } finally {
      this.depth--;
      this.tmpl = saved.tmpl;
      this.vars = saved.vars;
    }
  }

  evalPipeline(dot: GoValue, pipe: PipeNode): GoValue {
    this.at(pipe);
    let value: Final = MISSING;
    for (const cmd of pipe.cmds) {
      value = this.evalCommand(dot, cmd, value);
      // An interface holding nil is no value once a command has produced it.
      if (value === null) value = undefined;
    }
    const v = value === MISSING ? undefined : value;
    for (const d of pipe.decl) {
      if (pipe.isAssign) this.setVar(d.ident[0]!, v);
      else this.vars.push({ name: d.ident[0]!, value: v });
    }
    return v;
  }

  notAFunction(args: Node[], final: Final): void {
    if (args.length > 1 || final !== MISSING) this.errorf(`can't give argument to non-function ${nodeString(args[0])}`);
  }

  evalCommand(dot: GoValue, cmd: CommandNode, final: Final): GoValue {
    const first = cmd.args[0]!;
    switch (first.type) {
      case 'field':
        return this.evalFieldChain(dot, dot, first, first.ident, cmd.args, final);
      case 'chain':
        return this.evalChainNode(dot, first, cmd.args, final);
      case 'identifier':
        return this.evalFunction(dot, first, cmd, cmd.args, final);
      case 'pipe':
        this.notAFunction(cmd.args, final);
        return this.evalPipeline(dot, first);
      case 'variable':
        return this.evalVariableNode(dot, first, cmd.args, final);
    }
    this.at(first);
    this.notAFunction(cmd.args, final);
    switch (first.type) {
      case 'bool':
        return first.value;
      case 'dot':
        return dot;
      case 'nil':
        return this.errorf('nil is not a command');
      case 'number':
        return this.idealConstant(first);
      case 'string':
        return first.text;
    }
    return this.errorf(`can't evaluate command ${JSON.stringify(nodeString(first))}`);
  }

  idealConstant(n: NumberNode): GoValue {
    this.at(n);
    const hexInt = /^[+-]?0[xX]/.test(n.text) && !/[pP]/.test(n.text);
    if (n.isFloat && !hexInt && !n.text.startsWith("'") && /[.eEpP]/.test(n.text)) return n.float;
    if (n.isInt) return n.int;
    if (n.isUint) this.errorf(`${n.text} overflows int`);
    return undefined;
  }

  evalChainNode(dot: GoValue, chain: ChainNode, args: Node[], final: Final): GoValue {
    if (chain.node.type === 'nil') this.errorf(`indirection through explicit nil in ${nodeString(chain)}`);
    const pipe = this.evalArg(dot, INTERFACE, chain.node);
    return this.evalFieldChain(dot, pipe, chain, chain.field, args, final);
  }

  evalVariableNode(dot: GoValue, v: VariableNode, args: Node[], final: Final): GoValue {
    this.at(v);
    const value = this.varValue(v.ident[0]!);
    if (v.ident.length === 1) {
      this.notAFunction(args, final);
      return value;
    }
    return this.evalFieldChain(dot, value, v, v.ident.slice(1), args, final);
  }

  evalFieldChain(dot: GoValue, receiver: GoValue, node: Node, ident: string[], args: Node[], final: Final): GoValue {
    const n = ident.length;
    for (let i = 0; i < n - 1; i++) receiver = this.evalField(dot, ident[i]!, node, [], MISSING, receiver);
    return this.evalField(dot, ident[n - 1]!, node, args, final, receiver);
  }

  evalFunction(dot: GoValue, node: IdentifierNode, cmd: Node, args: Node[], final: Final): GoValue {
    this.at(node);
    const fn = this.opts.funcs.get(node.ident);
    if (!fn) return this.errorf(`${JSON.stringify(node.ident)} is not a defined function`);
    return this.evalCall(dot, fn, cmd, node.ident, args, final);
  }

  evalField(dot: GoValue, name: string, node: Node, args: Node[], final: Final, receiver: GoValue): GoValue {
    if (receiver === undefined) return undefined;
    if (receiver === null) this.errorf(`nil pointer evaluating interface {}.${name}`);
    const method = methodOf(receiver, name);
    if (method) return this.evalCall(dot, method, node, name, args, final);
    const hasArgs = args.length > 1 || final !== MISSING;
    if (receiver instanceof GoStruct) {
      const f = receiver.field(name);
      if (f !== NO_FIELD) {
        if (hasArgs) this.errorf(`${name} has arguments but cannot be invoked as function`);
        return f;
      }
    } else if (receiver instanceof GoMap) {
      if (hasArgs) this.errorf(`${name} is not a method but has arguments`);
      return receiver.entries.has(name) ? receiver.entries.get(name) : undefined;
    }
    return this.errorf(`can't evaluate field ${name} in type ${typeOf(receiver)}`);
  }

  evalCall(dot: GoValue, fn: GoFunc, node: Node, name: string, argNodes: Node[], final: Final): GoValue {
    const args = argNodes.slice(1);
    let numIn = args.length;
    if (final !== MISSING) numIn++;
    let numFixed = args.length;
    if (fn.variadic) {
      numFixed = fn.params.length - 1;
      if (numIn < numFixed) this.errorf(`wrong number of args for ${name}: want at least ${fn.params.length - 1} got ${args.length}`);
    } else if (numIn !== fn.params.length) this.errorf(`wrong number of args for ${name}: want ${fn.params.length} got ${numIn}`);
    if (fn.shortCircuit) {
      let v: GoValue;
      for (const a of args) {
        v = this.evalArg(dot, 'reflect.Value', a);
        if ((isTrue(v) ?? true) === (fn.shortCircuit === 'or')) return v;
      }
      if (final !== MISSING) v = this.validateType(final, 'reflect.Value');
      return v;
    }
    const argv: GoValue[] = [];
    let i = 0;
    for (; i < numFixed && i < args.length; i++) argv.push(this.evalArg(dot, fn.params[i]!, args[i]!));
    if (fn.variadic) {
      const t = fn.params[fn.params.length - 1]!;
      for (; i < args.length; i++) argv.push(this.evalArg(dot, t, args[i]!));
    }
    if (final !== MISSING) {
      let t = fn.params[fn.params.length - 1]!;
      if (fn.variadic && numIn - 1 < numFixed) t = fn.params[numIn - 1]!;
      argv.push(this.validateType(final, t));
    }
    try {
      return fn.call(argv);
    } catch (err) {
      this.at(node);
      if (err instanceof GoCallError) this.errorf(`error calling ${name}: ${err.message}`);
      if (err instanceof Unsupported) this.unsupported(err);
      throw err;
    }
  }

  validateType(value: GoValue, typ: string): GoValue {
    if (value === undefined) {
      if (typ === 'reflect.Value') return undefined;
      if (typ === INTERFACE) return null;
      if (canBeNil(typ)) return typ.startsWith('[]') ? new GoSlice(typ, typ.slice(2), [], true) : null;
      this.errorf(`invalid value; expected ${typ}`);
    }
    if (typ === 'reflect.Value' || typ === INTERFACE) return value;
    if (value === null) {
      if (canBeNil(typ)) return null;
      this.errorf(`wrong type for value; expected ${typ}; got interface {}`);
    }
    const t = typeOf(value);
    if (t === typ) return value;
    if (ASSIGNABLE.get(t) === typ && value instanceof GoSlice) return new GoSlice(typ, value.elem, value.items, value.nil);
    return this.errorf(`wrong type for value; expected ${typ}; got ${t}`);
  }

  evalArg(dot: GoValue, typ: string, n: Node): GoValue {
    this.at(n);
    switch (n.type) {
      case 'dot':
        return this.validateType(dot, typ);
      case 'nil':
        if (canBeNil(typ)) return typ === 'reflect.Value' ? null : typ.startsWith('[]') ? new GoSlice(typ, typ.slice(2), [], true) : null;
        return this.errorf(`cannot assign nil to ${typ}`);
      case 'field':
        return this.validateType(this.evalFieldChain(dot, dot, n, (n as FieldNode).ident, [n], MISSING), typ);
      case 'variable':
        return this.validateType(this.evalVariableNode(dot, n, [], MISSING), typ);
      case 'pipe':
        return this.validateType(this.evalPipeline(dot, n), typ);
      case 'identifier':
        return this.validateType(this.evalFunction(dot, n, n, [], MISSING), typ);
      case 'chain':
        return this.validateType(this.evalChainNode(dot, n, [], MISSING), typ);
    }
    switch (typ) {
      case 'bool':
        if (n.type === 'bool') return n.value;
        return this.errorf(`expected bool; found ${nodeString(n)}`);
      case 'int':
        if (n.type === 'number' && n.isInt) return n.int;
        return this.errorf(`expected integer; found ${nodeString(n)}`);
      case 'float64':
        if (n.type === 'number' && n.isFloat) return n.float;
        return this.errorf(`expected float; found ${nodeString(n)}`);
      case 'string':
        if (n.type === 'string') return n.text;
        return this.errorf(`expected string; found ${nodeString(n)}`);
      case INTERFACE:
      case 'reflect.Value':
        switch (n.type) {
          case 'bool':
            return n.value;
          case 'number':
            return this.idealConstant(n);
          case 'string':
            return n.text;
        }
    }
    return this.errorf(`can't handle ${nodeString(n)} for arg of type ${typ}`);
  }
}

/** The methods a value's Go type has that a template can call. */
function methodOf(v: GoValue, name: string): GoFunc | undefined {
  if (v instanceof GoOpaque) return v.methods[name];
  if (v instanceof GoSlice && v.type === 'memkv.KVPairs') {
    if (name === 'Len') return { params: [], result: 'int', call: () => BigInt(v.items.length) };
    if (name === 'Less' || name === 'Swap') throw new Unsupported(`the method ${v.type}.${name}`);
  }
  return undefined;
}
