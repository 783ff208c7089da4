/** The demo world: a handful of people and their posts, stable ids for Postman and wscat. */
export const DEMO_USERS = [
  { _id: 'user1', name: 'Ada' },
  { _id: 'user2', name: 'Grace' },
  { _id: 'user3', name: 'Linus' },
  { _id: 'user4', name: 'Margaret' },
  { _id: 'user5', name: 'Ken' },
  { _id: 'user6', name: 'Barbara' },
  { _id: 'user7', name: 'Dennis' },
  { _id: 'user8', name: 'Frances' },
  { _id: 'user9', name: 'Edsger' },
  { _id: 'user10', name: 'Radia' },
] as const;

export const DEMO_POSTS = DEMO_USERS.flatMap((user, i) => [
  { _id: `post${2 * i + 1}`, authorId: user._id, title: `${user.name}'s first post` },
  { _id: `post${2 * i + 2}`, authorId: user._id, title: `${user.name}'s second post` },
]);
