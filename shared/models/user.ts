import { Schema, type Connection, type Model } from 'mongoose';

export interface UserDoc {
  _id: string;
  name: string;
  createdAt: Date;
}

const userSchema = new Schema<UserDoc>(
  {
    _id: { type: String, required: true },
    name: { type: String, required: true },
    createdAt: { type: Date, required: true },
  },
  { collection: 'users', versionKey: false, _id: false },
);

export function userModel(connection: Connection): Model<UserDoc> {
  return (connection.models.User as Model<UserDoc> | undefined) ?? connection.model<UserDoc>('User', userSchema);
}
