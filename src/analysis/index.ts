// Public API of the pure analysis stage: no I/O, no clock, no globals.
export { createAnalyser } from './analyse.js';
export type { AnalysisOptions, Envelope, MessageAnalysis } from './analyse.js';
export { extractAddresses, firstMailbox } from './addresses.js';
export type { AddressBudget, ExtractResult, FoundAddress } from './addresses.js';
export { makeDomainClassifier, normaliseAddress, normaliseDomain } from './domain.js';
export type { NormalisedAddress } from './domain.js';
export { parseHeaderBlock } from './header-block.js';
export type { HeaderBlock, HeaderField } from './header-block.js';
export { normaliseLineEndings } from './line-endings.js';
export { VISIBLE_ADDRESS_HEADERS } from './exposure-report.js';
export type { ExposureReport, VisibleAddress, VisibleHeaderName } from './exposure-report.js';
