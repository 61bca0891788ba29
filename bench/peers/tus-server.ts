// @tus/server with @tus/file-store, as its README sets it up.
import { FileStore } from '@tus/file-store';
import { Server } from '@tus/server';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

const [dir = '.', port = '0'] = process.argv.slice(2);
const tus = new Server({ path: '/files', datastore: new FileStore({ directory: dir }) });
const server = createServer((req, res) => void tus.handle(req, res));
server.listen(Number(port), '127.0.0.1', () => console.log(`listening http://127.0.0.1:${(server.address() as AddressInfo).port}`));
