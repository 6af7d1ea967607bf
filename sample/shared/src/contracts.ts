/** Message patterns and payload shapes shared by the gateway and the services. */

export const MATH_SERVICE = 'MATH_SERVICE';
export const NOTIFICATIONS_SERVICE = 'NOTIFICATIONS_SERVICE';

export const MathPatterns = {
  sum: 'math.sum',
  divide: 'math.divide',
  /** Streams 0 … n-1, one value per tick. */
  count: 'math.count',
  /** How many count streams completed and how many were cancelled by their caller. */
  streams: 'math.streams',
} as const;

export const NotificationPatterns = {
  /** Event: deliver a notification. */
  send: 'notifications.send',
  /** Request: the latest notifications delivered. */
  recent: 'notifications.recent',
} as const;

export interface Operands {
  a: number;
  b: number;
}

export interface StreamCounts {
  completed: number;
  cancelled: number;
}

export interface Notification {
  to: string;
  text: string;
}

/** The error the math service throws for a division by zero (an `RpcException` value). */
export const DIVISION_BY_ZERO = { code: 'E_DIVISION_BY_ZERO', message: 'cannot divide by zero', status: 422 } as const;
