/**
 * The list of CLI commands.
 * @module
 */
import type { Command } from '../util.ts';
import { append } from './append.ts';
import { node } from './node.ts';
import { warm } from './warm.ts';
import { build } from './build.ts';
import { s2i } from './s2i.ts';
import { copy, inspect, tags } from './registry.ts';
import { sbom } from './sbom.ts';

/** Every command, in help order. */
export const commands: Command[] = [build, append, node, s2i, warm, copy, inspect, tags, sbom];
