// etcd3 parses the text of its .proto files each time it loads: ~40–50 ms of CPU at every start of a
// process that talks to etcd. In the bundle it gets the same definitions already parsed (protobufjs
// JSON, made here from its own .proto files), which proto-loader's fromJSON takes with the same options.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

/** The one call the plugin rewrites; an etcd3 that loads its protos otherwise fails the bundle. */
const LOAD_CALL = '(0, proto_loader_1.loadSync)(`${__dirname}/../proto/rpc.proto`, {';

/** The esbuild plugin for the bundle of etcd3 (etcd3Dir: the package's directory). */
export function etcd3ParsedProtos(etcd3Dir) {
  return {
    name: 'etcd3-parsed-protos',
    setup(b) {
      b.onLoad({ filter: /etcd3[\\/]lib[\\/]connection-pool\.js$/ }, (args) => {
        const code = readFileSync(args.path, 'utf8');
        if (!code.includes(LOAD_CALL)) throw new Error(`${args.path}: etcd3 no longer loads its protos with ${LOAD_CALL} (scripts/etcd3-protos.mjs)`);
        // The protobufjs that etcd3's proto-loader uses, parsing as loadSync would (keepCase, as etcd3 asks).
        const fromEtcd3 = createRequire(join(etcd3Dir, 'package.json'));
        const protobuf = createRequire(fromEtcd3.resolve('@grpc/proto-loader'))('protobufjs');
        const root = new protobuf.Root().loadSync(join(etcd3Dir, 'proto/rpc.proto'), { keepCase: true });
        const json = JSON.stringify(JSON.stringify(root.toJSON()));
        return { contents: code.replace(LOAD_CALL, `(0, proto_loader_1.fromJSON)(JSON.parse(${json}), {`), loader: 'js' };
      });
    },
  };
}
