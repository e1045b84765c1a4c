/** Types of jwtguard.mjs, the ES module build: the same API as jwtguard.js (jwtguard.d.ts). */
export * from "./jwtguard.js";
