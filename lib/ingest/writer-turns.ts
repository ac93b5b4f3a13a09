/**
 * Turns at one thing, first come first served: SQLite's single writer, or one boat's imports. `waiting`
 * tells the holder that someone is in line, so a long import can let them in between its transactions.
 */
export class Turns {
    private held = false;
    private readonly line: Array<() => void> = [];

    get waiting(): number {
        return this.line.length;
    }

    /** Resolves when it is the caller's turn, with the function that ends it. */
    async take(): Promise<() => void> {
        if (this.held) await new Promise<void>((resolve) => this.line.push(resolve));
        this.held = true;
        let ended = false;
        return () => {
            if (ended) return;
            ended = true;
            const next = this.line.shift();
            if (next) next();
            else this.held = false;
        };
    }

    /** Runs `work` in a turn of its own. */
    async run<T>(work: () => Promise<T>): Promise<T> {
        const end = await this.take();
        try {
            return await work();
        } finally {
            end();
        }
    }
}

/** Turns per key (a boat's installation_id): keys apart never wait for each other. */
export class KeyedTurns {
    private readonly turns = new Map<string, { turns: Turns; users: number }>();

    async take(key: string): Promise<() => void> {
        let entry = this.turns.get(key);
        if (!entry) this.turns.set(key, (entry = { turns: new Turns(), users: 0 }));
        entry.users++;
        const mine = entry;
        const end = await mine.turns.take();
        return () => {
            end();
            if (--mine.users === 0 && this.turns.get(key) === mine) this.turns.delete(key);
        };
    }
}
