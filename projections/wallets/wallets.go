package wallets

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/hongbao/hongbao/internal/jsonx"
	"github.com/hongbao/hongbao/ledger"
	"github.com/hongbao/hongbao/projections/projector"
)

// Projection is the wallet read model; it implements
// projector.RawProjection over the LEDGER stream.
type Projection struct{}

var _ projector.RawProjection = Projection{}

// Name is "wallets".
func (Projection) Name() string { return "wallets" }

// Entry is one transfer in a user's wallet. Amount is positive when
// credited to the wallet; Kind is the ledger's (ledger.Entry.Kind).
type Entry struct {
	TransferID string
	Amount     int64
	Kind       string
	EnvelopeID string
	At         time.Time
}

// Page is a user's balance and a page of the wallet's entries, newest
// first. Next is the cursor of the next page, "" after the last.
type Page struct {
	Balance int64
	Entries []Entry
	Next    string
}

type entry struct {
	TransferID string    `json:"transfer_id"`
	Amount     int64     `json:"amount"` // positive: credited to the wallet
	Kind       string    `json:"kind"`
	EnvelopeID string    `json:"envelope_id"`
	At         time.Time `json:"at"`
}

func balanceKey(account string) []byte { return projector.Key("w/b/", account) }

func entriesPrefix(user string) []byte { return projector.Key("w/e/", user, "/") }

// ApplyMsg projects one ledger entry.
func (Projection) ApplyMsg(tx *projector.Tx, seq uint64, data []byte) error {
	ent, err := ledger.DecodeEntry(data)
	if err != nil {
		return fmt.Errorf("%w: %w", projector.ErrMalformed, err)
	}
	for _, side := range []struct {
		account string
		sign    int64
	}{{ent.Debit, -1}, {ent.Credit, 1}} {
		bal, _, err := projector.Get[int64](tx, balanceKey(side.account))
		if err != nil {
			return err
		}
		if err := projector.Set(tx, balanceKey(side.account), bal+side.sign*ent.Amount); err != nil {
			return err
		}
		if user, ok := strings.CutPrefix(side.account, "wallet:"); ok {
			row := entry{TransferID: ent.ID, Amount: side.sign * ent.Amount, Kind: ent.Kind, EnvelopeID: ent.EnvelopeID, At: ent.At}
			if err := projector.Set(tx, projector.Key(entriesPrefix(user), ^seq), row); err != nil {
				return err
			}
		}
	}
	return nil
}

// Balance of an account (0 when it never moved).
func Balance(r pebble.Reader, account string) (int64, error) {
	var bal int64
	_, err := projector.GetRow(r, balanceKey(account), &bal)
	return bal, err
}

// Balances visits every account's balance.
func Balances(r pebble.Reader, visit func(account string, balance int64)) error {
	prefix := []byte("w/b/")
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: projector.PrefixEnd(prefix)})
	if err != nil {
		return err
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		var bal int64
		if err := projector.IterRow(it, &bal); err != nil {
			return err
		}
		visit(string(it.Key()[len(prefix):]), bal)
	}
	return it.Error()
}

// Wallet returns user's balance and at most limit of the wallet's entries
// after the cursor, newest first.
func Wallet(r pebble.Reader, user, cursor string, limit int) (Page, error) {
	var p Page
	var err error
	if p.Balance, err = Balance(r, ledger.WalletAccount(user)); err != nil {
		return p, err
	}
	p.Next, err = projector.PageNewestFirst(r, entriesPrefix(user), cursor, limit, func(it *pebble.Iterator) error {
		var e entry
		if err := projector.IterRow(it, &e); err != nil {
			return err
		}
		p.Entries = append(p.Entries, Entry(e))
		return nil
	})
	return p, err
}

// AppendJSON encodes e as json.Marshal does (projector.JSONAppender).
func (e entry) AppendJSON(b []byte) ([]byte, error) {
	b = append(b, `{"transfer_id":`...)
	b = jsonx.AppendString(b, e.TransferID)
	b = append(b, `,"amount":`...)
	b = strconv.AppendInt(b, e.Amount, 10)
	b = append(b, `,"kind":`...)
	b = jsonx.AppendString(b, e.Kind)
	b = append(b, `,"envelope_id":`...)
	b = jsonx.AppendString(b, e.EnvelopeID)
	b = append(b, `,"at":`...)
	b, err := jsonx.AppendTime(b, e.At)
	if err != nil {
		return b, err
	}
	return append(b, '}'), nil
}
