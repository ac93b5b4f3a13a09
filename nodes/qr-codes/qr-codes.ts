import { collectorNode } from '../shared/collector-node';

export = collectorNode('d3kos-qr-codes', 'qr_codes');
