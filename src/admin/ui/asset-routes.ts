import { readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { HttpError } from '../http-answers.js';

// The console's two static files, shipped in the package (the build copies
// src/admin/ui/assets to dist/admin/ui/assets) and read once: nothing is ever
// fetched from elsewhere.

const TYPES: Readonly<Record<string, string>> = {
  'console.css': 'text/css; charset=utf-8',
  'console.js': 'text/javascript; charset=utf-8',
};

const ASSETS = new Map(Object.entries(TYPES).map(([name, type]) => [name, { type, body: readFileSync(new URL(`./assets/${name}`, import.meta.url)) }]));

export function registerAssetRoutes(ui: FastifyInstance): void {
  ui.get<{ Params: { file: string } }>('/assets/:file', async (request, reply) => {
    const asset = ASSETS.get(request.params.file);
    if (!asset) throw new HttpError(404, 'no such asset');
    return reply.code(200).type(asset.type).send(asset.body);
  });
}
