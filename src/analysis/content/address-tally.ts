// Distinct external addresses per part and over the message, counted as the
// header count does: normalised (domain.ts), internal domains left out, and the
// sole envelope recipient not counted (report.ts buildReport): seeing your own
// address is no exposure.

import { normaliseAddress } from '../domain.js';
import { normalisedRecipients, type Envelope } from '../report.js';
import { MAX_LISTED_PER_LOCATION, type ContentCarrier, type ContentLocation, type PartPlace } from './content-report.js';

export class AddressTally {
  readonly all = new Set<string>();
  readonly locations: ContentLocation[] = [];
  private readonly self: string | undefined;

  constructor(
    private readonly isInternal: (domain: string) => boolean,
    envelope: Envelope,
  ) {
    const recipients = normalisedRecipients(envelope.rcptTo);
    this.self = recipients.size === 1 ? [...recipients][0] : undefined;
  }

  /** A collector for one part; `done` adds its location when it found anything. */
  part(place: PartPlace, carrier: ContentCarrier): { add: (found: string) => boolean; done: () => void } {
    const here = new Set<string>();
    return {
      add: (found) => {
        const n = normaliseAddress(found);
        if (n !== null && n.address !== this.self && !this.isInternal(n.domain)) {
          here.add(n.address);
          this.all.add(n.address);
        }
        return true;
      },
      done: () => {
        if (here.size === 0) return;
        const addresses: string[] = [];
        for (const a of here) {
          if (addresses.length === MAX_LISTED_PER_LOCATION) break;
          addresses.push(a);
        }
        this.locations.push({ ...place, carrier, externalCount: here.size, addresses });
      },
    };
  }
}
