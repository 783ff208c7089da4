import { Schema, type Connection, type Model } from 'mongoose';

export interface PostDoc {
  _id: string;
  authorId: string;
  title: string;
  createdAt: Date;
}

const postSchema = new Schema<PostDoc>(
  {
    _id: { type: String, required: true },
    authorId: { type: String, required: true },
    title: { type: String, required: true },
    createdAt: { type: Date, required: true },
  },
  { collection: 'posts', versionKey: false, _id: false },
);

postSchema.index({ authorId: 1, createdAt: -1 });

export function postModel(connection: Connection): Model<PostDoc> {
  return (connection.models.Post as Model<PostDoc> | undefined) ?? connection.model<PostDoc>('Post', postSchema);
}
