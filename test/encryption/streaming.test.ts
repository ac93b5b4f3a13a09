import assert from 'node:assert/strict';
import * as crypto from 'crypto';
import { Readable } from 'stream';
import { decryptStream, encryptStream, newIdentity } from '../../lib/crypto/age';

/** `total` bytes of cheap pseudo-random data, made as they are read. */
function generated(total: number, seed: Buffer): Readable {
    let made = 0;
    let block = seed;
    return new Readable({
        read() {
            if (made >= total) return this.push(null);
            block = crypto.createHash('sha512').update(block).digest();
            const chunk = Buffer.alloc(Math.min(1 << 20, total - made));
            for (let i = 0; i < chunk.length; i += block.length) block.copy(chunk, i);
            made += chunk.length;
            this.push(chunk);
        },
    });
}

describe('age streams are bounded in memory', function () {
    this.timeout(180000);

    it('128 MB encrypted and decrypted again, as one stream, grows RSS by far less than the data', async () => {
        const total = 128 * 1024 * 1024;
        const seed = crypto.randomBytes(64);
        const { identity, recipient } = await newIdentity();
        global.gc?.();
        const idle = process.memoryUsage().rss;
        let peak = idle;
        const sampler = setInterval(() => {
            peak = Math.max(peak, process.memoryUsage().rss);
        }, 20);
        const expected = crypto.createHash('sha256');
        for await (const chunk of generated(total, seed)) expected.update(chunk as Buffer);
        const hash = crypto.createHash('sha256');
        let size = 0;
        try {
            const sealed = await encryptStream(generated(total, seed), [recipient]);
            for await (const chunk of await decryptStream(sealed, [identity])) {
                hash.update(chunk as Buffer);
                size += (chunk as Buffer).length;
            }
        } finally {
            clearInterval(sampler);
        }
        assert.equal(size, total);
        assert.equal(hash.digest('hex'), expected.digest('hex'));
        const grew = (peak - idle) / 1024 / 1024;
        console.log(`      RSS grew ${grew.toFixed(1)} MB for ${total / 1024 / 1024} MB through encrypt and decrypt`);
        assert.ok(grew < 80, `RSS grew ${grew.toFixed(1)} MB`);
    });
});
