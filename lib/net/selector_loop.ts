/**
 * The networking half of `EventLoop`: the methods of the modules below, installed on
 * `EventLoop.prototype` by `lib/loop.ts` in one place, so the loop core stays about scheduling and
 * fd watching, and networking grows here without touching it.
 * @packageDocumentation
 */
import { type Resolver, resolver } from '../loop/resolver';
import { type ServerOps, serverOps } from './servers';
import { type SockOps, sockOps } from './sock_ops';

/** Every networking method of `EventLoop`. */
export interface LoopNetworking extends SockOps, Resolver, ServerOps {}

/** @internal The implementations (`this` is the loop). */
export const loopNetworking: LoopNetworking = { ...sockOps, ...resolver, ...serverOps };
