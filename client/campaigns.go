package client

import (
	"context"
)

// CampaignCreate creates a shake campaign (hongbao.campaign.create),
// idempotent on sponsor and request id like Wrap.
func (c *Client) CampaignCreate(ctx context.Context, r CampaignCreateRequest) (CampaignCreateResult, error) {
	if r.RequestID == "" {
		r.RequestID = newRequestID()
	}
	bp := getBuf()
	defer putBuf(bp)
	b := append((*bp)[:0], '{')
	b = appendStringField(b, "request_id", r.RequestID)
	b = appendStringField(b, "sponsor", r.Sponsor)
	b = appendIntField(b, "total", r.Total)
	b = appendIntField(b, "count", int64(r.Count))
	if !r.StartsAt.IsZero() {
		b = appendTimeField(b, "starts_at", r.StartsAt)
	}
	b = appendTimeField(b, "ends_at", r.EndsAt)
	if r.PerUser != 0 {
		b = appendIntField(b, "per_user", int64(r.PerUser))
	}
	if r.MaxShare != 0 {
		b = appendIntField(b, "max_share", r.MaxShare)
	}
	b = append(b, '}')
	*bp = b
	subject := c.subject("campaign", "create")
	m, err := c.call(ctx, subject, b)
	if err != nil {
		return CampaignCreateResult{}, err
	}
	res := CampaignCreateResult{}
	if err := decode(subject, m, &res); err != nil {
		return CampaignCreateResult{}, err
	}
	if res.CampaignID == "" {
		return CampaignCreateResult{}, invalid(subject, m)
	}
	res.RequestID = r.RequestID
	return res, nil
}

// CampaignPay confirms the sponsor's payment of campaign id
// (hongbao.campaign.pay.<id>), with Pay's rules.
func (c *Client) CampaignPay(ctx context.Context, id, paymentID string, amount int64) (CampaignPayResult, error) {
	bp := getBuf()
	defer putBuf(bp)
	b := append((*bp)[:0], '{')
	b = appendStringField(b, "payment_id", paymentID)
	b = appendIntField(b, "amount", amount)
	b = append(b, '}')
	*bp = b
	subject := c.subject("campaign.pay", id)
	if err := token(subject, "campaign id", CodeInvalidID, id); err != nil {
		return CampaignPayResult{}, err
	}
	m, err := c.call(ctx, subject, b)
	if err != nil {
		return CampaignPayResult{}, err
	}
	var res CampaignPayResult
	return res, decode(subject, m, &res)
}

// Shake tries to win a ticket of campaign id for user
// (hongbao.shake.<id>): StatusWon with the Ticket, or StatusNone,
// StatusLimit, StatusNotStarted, StatusEnded.
func (c *Client) Shake(ctx context.Context, id, user string) (ShakeResult, error) {
	bp := getBuf()
	defer putBuf(bp)
	*bp = userBody((*bp)[:0], user)
	subject := c.subject("shake", id)
	if err := token(subject, "campaign id", CodeInvalidID, id); err != nil {
		return ShakeResult{}, err
	}
	m, err := c.call(ctx, subject, *bp)
	if err != nil {
		return ShakeResult{}, err
	}
	var res ShakeResult
	f := newFlat(m.Data)
	for k, v, _, ok := f.next(); ok; k, v, _, ok = f.next() {
		switch string(k) {
		case "status":
			res.Status = status(v)
		case "ticket":
			res.Ticket = string(v)
		}
	}
	if f.bad || res.Status == "" {
		// A variable of its own: passing &res to encoding/json would put
		// every result on the heap.
		slow := ShakeResult{}
		if err := fallback(subject, m, &slow, func() bool { return slow.Status != "" }); err != nil {
			return ShakeResult{}, err
		}
		res = slow
	}
	return res, nil
}

// CampaignOpen opens the ticket user won in campaign id
// (hongbao.campaign.open.<id>): StatusOpened with Amount and Seq,
// StatusAlreadyOpened with Amount, or StatusEnded. A forged ticket, or
// another user's or campaign's, is ErrInvalidTicket.
func (c *Client) CampaignOpen(ctx context.Context, id, user, ticket string) (CampaignOpenResult, error) {
	bp := getBuf()
	defer putBuf(bp)
	b := append((*bp)[:0], '{')
	b = appendStringField(b, "user", user)
	b = appendStringField(b, "ticket", ticket)
	b = append(b, '}')
	*bp = b
	subject := c.subject("campaign.open", id)
	if err := token(subject, "campaign id", CodeInvalidID, id); err != nil {
		return CampaignOpenResult{}, err
	}
	m, err := c.call(ctx, subject, b)
	if err != nil {
		return CampaignOpenResult{}, err
	}
	var res CampaignOpenResult
	f := newFlat(m.Data)
	for k, v, s, ok := f.next(); ok; k, v, s, ok = f.next() {
		switch string(k) {
		case "status":
			res.Status = status(v)
		case "amount":
			res.Amount = f.int(v, s)
		case "seq":
			res.Seq = f.uint(v, s)
		}
	}
	if f.bad || res.Status == "" {
		// A variable of its own: passing &res to encoding/json would put
		// every result on the heap.
		slow := CampaignOpenResult{}
		if err := fallback(subject, m, &slow, func() bool { return slow.Status != "" }); err != nil {
			return CampaignOpenResult{}, err
		}
		res = slow
	}
	return res, nil
}

// CampaignGet returns campaign id (hongbao.campaign.get.<id>).
func (c *Client) CampaignGet(ctx context.Context, id string) (Campaign, error) {
	subject := c.subject("campaign.get", id)
	if err := token(subject, "campaign id", CodeInvalidID, id); err != nil {
		return Campaign{}, err
	}
	m, err := c.call(ctx, subject, []byte("{}"))
	if err != nil {
		return Campaign{}, err
	}
	var res struct {
		Campaign Campaign `json:"campaign"`
	}
	if err := decode(subject, m, &res); err != nil {
		return Campaign{}, err
	}
	return res.Campaign, nil
}
