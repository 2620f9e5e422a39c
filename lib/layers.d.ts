/** The rooms of lib/ and which rooms each may import from (lib/layers.js). */
export declare const LAYERS: Record<string, readonly string[]>;
