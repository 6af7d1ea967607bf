export * from './caller-log';
export * from './config';
export * from './contracts';
export * from './serve';
