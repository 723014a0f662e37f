// Public API of the pure analysis stage: no I/O, no clock, no globals.
export { createAnalyser } from './analyse.js';
export type { AnalysisInput, AnalysisOptions, CountedField, Envelope, MessageAnalysis } from './analyse.js';
export { extractAddresses, firstMailbox } from './addresses.js';
export type { AddressBudget, ExtractResult, FoundAddress } from './addresses.js';
export { BUILT_IN_COUNTED_HEADERS, countedHeaderTable } from './counted-headers.js';
export type { CountedHeader, CountedHeaderTable, OnCopy } from './counted-headers.js';
export { makeDomainClassifier, normaliseAddress, normaliseDomain } from './domain.js';
export type { NormalisedAddress } from './domain.js';
export type { Finding, FindingKind } from './findings.js';
export { parseHeaderBlock } from './header-block.js';
export type { HeaderBlock, HeaderField } from './header-block.js';
export { normaliseLineEndings } from '../message/line-endings.js';
export { HeaderTooBigError, MalformedHeaderError } from './malformed.js';
export type { ExposureReport, VisibleAddress } from './exposure-report.js';
