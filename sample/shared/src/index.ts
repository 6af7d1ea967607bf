export * from './config';
export * from './contracts';
export * from './serve';
