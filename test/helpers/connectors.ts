import type { DeactivatingConnector, UserRecord } from '../../lambdas/connectors/types';
import type { OffboardError } from '../../lambdas/shared/errors';
import { rejectionOf } from './errors';

/**
 * Switches the user off, then verifies three times against a sandbox whose reads lag two
 * writes behind (`verifyLag: 2`): the first two verifications still see the account on, the
 * third sees it off.
 */
export async function verifyThroughLag(
  connector: DeactivatingConnector,
  userId: string,
): Promise<{ first: OffboardError; second: OffboardError; third: UserRecord }> {
  await connector.deactivateUser(await connector.getUser(userId));
  const first = await rejectionOf(connector.verifyDeactivated(userId));
  const second = await rejectionOf(connector.verifyDeactivated(userId));
  const third = await connector.verifyDeactivated(userId);
  return { first, second, third };
}
