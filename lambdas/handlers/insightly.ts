import { createInsightlyConnector } from '../connectors/insightly/connector';
import { connectorHandler } from './connector';

/** Steps of `insightly` connections. Bundled alone: this function can read only Insightly secrets. */
export const handler = connectorHandler(createInsightlyConnector);
