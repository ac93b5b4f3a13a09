import { collectorNode } from '../shared/collector-node';

export = collectorNode('d3kos-telemetry', 'telemetry');
