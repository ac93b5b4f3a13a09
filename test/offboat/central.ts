import * as fs from 'fs';
import * as http from 'http';
import * as path from 'path';
import { vaultHandler } from '../../lib/vault/routes';
import type { VaultCopy } from '../../lib/vault/store';

/** A central side on loopback: the vault's routes and the health endpoint the boat asks first. */
export interface TestCentral {
    port: number;
    url: string;
    dataDir: string;
    copies: Array<{ installation: string; copy: VaultCopy }>;
    /** Uploads made (tus POSTs answered 201): one per copy when every restart resumed. */
    uploadsMade(): number;
    close(): Promise<void>;
}

export async function testCentral(dataDir: string, devices: Record<string, string>, operators: string[] = [], keep = 3): Promise<TestCentral> {
    fs.mkdirSync(dataDir, { recursive: true });
    fs.writeFileSync(path.join(dataDir, 'devices.json'), JSON.stringify(devices));
    fs.writeFileSync(path.join(dataDir, 'operators.json'), JSON.stringify(operators));
    const copies: TestCentral['copies'] = [];
    const vault = vaultHandler({ dataDir, mode: 'tokens', keep, maxBytes: 4 * 1024 ** 3, onCopy: (installation, copy) => copies.push({ installation, copy }) });
    let made = 0;
    const server = http.createServer((req, res) => {
        if (req.method === 'POST' && req.url?.startsWith('/api/v1/backup-uploads')) res.on('finish', () => res.statusCode === 201 && made++);
        if (req.url === '/api/v1/health') {
            res.writeHead(200, { 'Content-Type': 'application/json' });
            res.end('{"status":"ok"}');
            return;
        }
        vault(req, res, () => {
            res.writeHead(404);
            res.end();
        });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    return {
        port,
        url: `http://127.0.0.1:${port}`,
        dataDir,
        copies,
        uploadsMade: () => made,
        close: () =>
            new Promise<void>((resolve) => {
                server.closeAllConnections();
                server.close(() => resolve());
            }),
    };
}
