import { collectorNode } from '../shared/collector-node';

export = collectorNode('d3kos-engine-benchmark', 'engine_benchmark');
