import { Schema, type Connection, type Model } from 'mongoose';

/** A user's notification preferences; see shared/preferences.ts for their meaning. */
export interface PreferenceDoc {
  /** The userId. */
  _id: string;
  mutedTypes: string[];
  promotionalOptOut: boolean;
  /** Local times of day "HH:MM" or "HH:MM:SS" in an IANA time zone; null when unset. */
  doNotDisturb: { start: string; end: string; timeZone: string } | null;
  updatedAt: Date;
}

const preferenceSchema = new Schema<PreferenceDoc>(
  {
    _id: { type: String, required: true },
    mutedTypes: { type: [String], default: [] },
    promotionalOptOut: { type: Boolean, default: false },
    doNotDisturb: { type: new Schema({ start: String, end: String, timeZone: String }, { _id: false }), default: null },
    updatedAt: { type: Date, required: true },
  },
  { collection: 'preferences', versionKey: false, _id: false },
);

export function preferenceModel(connection: Connection): Model<PreferenceDoc> {
  return (
    (connection.models.Preference as Model<PreferenceDoc> | undefined) ??
    connection.model<PreferenceDoc>('Preference', preferenceSchema)
  );
}
