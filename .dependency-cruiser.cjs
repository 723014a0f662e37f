// The layout of ARCHITECTURE.md as rules `npm test` enforces (test/unit/layout).
// Folders of src/ from the top down: a module may import its own folder and the
// folders below it, never one above. That alone makes folder cycles impossible;
// no-circular catches file cycles inside a folder. Type imports count
// (tsPreCompilationDeps): a type pulled from above is the same seam as a value.
const LAYERS = [
  'cli',
  'workers', // serve with workers: N > 1 (node:cluster): the primary and the SMTP worker processes
  '(app.ts)', // the composition root: builds every part and wires them together
  'admin',
  'observability', // watches everything below; nothing below knows it is watched
  'review',
  'actions',
  'smtp',
  'upstream',
  'policy',
  'analysis',
  'store',
  'message',
  'config',
  'reply',
  'net',
];

/** What touches the network, the disk or a process-wide sink: core modules (as resolved, without node:) and packages. */
const IO_CORE = ['net', 'tls', 'fs', 'fs/promises', 'dgram', 'http', 'https', 'http2', 'child_process', 'cluster', 'worker_threads'];
const IO_PACKAGES = ['smtp-server', 'nodemailer', 'ioredis', 'pino', 'prom-client', 'fastify'];
const escape = (s) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

const where = (layer) => (layer.startsWith('(') ? `^src/${escape(layer.slice(1, -1))}$` : `^src/${layer}/`);
const layerRules = LAYERS.slice(1).map((layer, i) => ({
  name: `layer-${layer.replace(/[()]/g, '')}`,
  comment: `src/${layer} may import only what lies below it: ${LAYERS.slice(i + 2).join(', ') || '(nothing)'}`,
  severity: 'error',
  from: { path: where(layer) },
  to: { path: LAYERS.slice(0, i + 1).map(where) },
}));

module.exports = {
  forbidden: [
    { name: 'no-circular', severity: 'error', comment: 'No import cycle between files, type imports included', from: {}, to: { circular: true } },
    ...layerRules,
    {
      name: 'pure-analysis-and-policy',
      severity: 'error',
      comment: 'analysis/ and policy/ are pure: values in, values out; no network, disk, logger or metrics',
      from: { path: '^src/(analysis|policy)/' },
      to: {
        path: [`^(${IO_CORE.map(escape).join('|')})$`, `^node_modules/(${IO_PACKAGES.map(escape).join('|')})/`],
        // nodemailer's address parser is a pure function, and the one mailers use: reading addresses as they wrote them.
        pathNot: '^node_modules/nodemailer/(lib|dist/esm)/addressparser/',
      },
    },
    { name: 'not-to-unresolvable', severity: 'error', from: {}, to: { couldNotResolve: true } },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'] },
  },
};
