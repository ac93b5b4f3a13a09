import { collectorNode } from '../shared/collector-node';

export = collectorNode('d3kos-system-alerts', 'system_alerts');
