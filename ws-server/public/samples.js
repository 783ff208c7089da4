// The sample events behind "Simulate activity": one valid body per type (docs/http-api.md).

export function sampleEvent(type, actorId, targetId) {
  const n = Math.floor(Math.random() * 20) + 1;
  const ref = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
  const base = { type, targetId, actorId };
  switch (type) {
    case 'LIKE':
    case 'MENTION':
    case 'SHARE':
      return { ...base, postId: `post${n}` };
    case 'COMMENT':
      return { ...base, postId: `post${n}`, text: 'Great write-up, thanks!' };
    case 'FOLLOW':
      return base;
    case 'SECURITY':
      return { type, targetId, text: 'New sign-in from Firefox on Linux' };
    case 'ORDER':
      return { type, targetId, orderId: `order-${ref}`, text: 'has shipped' };
    case 'PAYMENT':
      return { type, targetId, paymentId: `pay-${ref}`, amount: 42.5, currency: 'EUR' };
    case 'PROMO':
      return { type, targetId, campaignId: `spring-${ref}`, text: '20% off all plans this week' };
  }
  return base;
}
