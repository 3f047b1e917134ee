export * from './webvram';
export { default } from './webvram';
export * from './errors';
