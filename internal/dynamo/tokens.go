package dynamo

// One write for both request limits (issue #23): the user's bucket and the
// bucket of the connection the request came on live on the same item,
// USER#<userId> / RATE (the connection's as an attribute "ct#<connId>"),
// and one conditional UpdateItem spends a token of each. Before, each had
// its own item (the connection's on its CONN# item) and every request paid
// two writes for them.
//
// Each bucket is a GCRA whose update has two forms (idle: the bucket is
// full, start it over; busy: advance it, unless that passes the burst), so
// the one write has four; the store remembers per user and connection what
// the last answer said and tries the form that predicts. A wrong guess (or
// a concurrent request on another instance) fails the condition; then the
// state is read (a strongly consistent GetItem, only on that path) and
// either a bucket is over its burst — refused — or the right form is tried.
//
// A user has at most MaxConnectionsPerUser live connections, so the item
// holds a bounded number of connection buckets; a bucket idle for a minute
// is full again and is removed the next time the item is written with
// enough of them (pruneAt), which keeps the item well under 1 KB: one
// write unit.

import (
	"context"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/wschat/wschat/internal/chat"
)

// Rate is chat.Rate.
type Rate = chat.Rate

func rateOn(r Rate) bool { return r.PerSecond > 0 && r.Burst > 0 }

// interval is the microseconds one token costs.
func interval(r Rate) int64 { return int64(math.Ceil(1e6 / r.PerSecond)) }

// connTokenAttr is the attribute of a connection's bucket on its user's
// rate item.
func connTokenAttr(connID string) string { return "ct#" + connID }

// pruneAt is how many idle connection buckets the item may carry before a
// write removes them; pruneIdle how long a bucket must be idle to go.
const (
	pruneAt   = 4
	pruneIdle = time.Minute
)

// tokenForms remembers, per user and connection, whether each bucket was
// busy (ahead of the clock) after the last write: the form to try first.
type tokenForms struct {
	mu sync.Mutex
	m  map[string][2]int64 // the buckets' states (unix µs) the last write left
}

func (f *tokenForms) get(k string) ([2]int64, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	v, ok := f.m[k]
	return v, ok
}

func (f *tokenForms) set(k string, v [2]int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.m == nil || len(f.m) >= busyChannelsMax {
		f.m = map[string][2]int64{}
	}
	f.m[k] = v
}

// TakeTokens spends one token of the user's bucket and one of the
// connection's (a limit that is off is not spent), in one conditional
// write. It answers Allowed, or which bucket is over its rate (nothing is
// spent then).
func (s *Store) TakeTokens(ctx context.Context, userID, connID string, user, conn Rate) (chat.Refused, error) {
	if !rateOn(user) && !rateOn(conn) {
		return chat.Allowed, nil
	}
	k := userID + "\x00" + connID
	last, known := s.tokens.get(k)
	nowUS := s.now().UnixMicro()
	busyU, busyC := known && last[0] >= nowUS, known && last[1] >= nowUS
	for range 3 {
		state, err := s.takeTokens(ctx, userID, connID, user, conn, busyU, busyC)
		if err == nil {
			s.tokens.set(k, state)
			return chat.Allowed, nil
		}
		if !isConflict(err) {
			return chat.Allowed, err
		}
		tatU, okU, tatC, okC, err := s.tokenState(ctx, userID, connID)
		if err != nil {
			return chat.Allowed, err
		}
		nowUS = s.now().UnixMicro()
		switch {
		case rateOn(user) && okU && tatU > nowUS+int64(user.Burst-1)*interval(user):
			return chat.UserRefused, nil
		case rateOn(conn) && okC && tatC > nowUS+int64(conn.Burst-1)*interval(conn):
			return chat.ConnectionRefused, nil
		}
		busyU, busyC = okU && tatU >= nowUS, okC && tatC >= nowUS
	}
	// Three lost races in a row: the buckets are busy with this user's
	// other requests. Refusing is the safe answer.
	return chat.UserRefused, nil
}

// takeTokens is one attempt, in the forms busyU and busyC; it returns the
// buckets' new states.
func (s *Store) takeTokens(ctx context.Context, userID, connID string, user, conn Rate, busyU, busyC bool) ([2]int64, error) {
	now := s.now()
	nowUS := now.UnixMicro()
	names := map[string]string{"#ttl": attrTTL}
	values := map[string]types.AttributeValue{":now": num(nowUS), ":ttl": epoch(now.Add(userRateTTL))}
	sets := []string{"#ttl = :ttl"}
	var conds []string
	bucket := func(tag, attr string, r Rate, busy bool) {
		if !rateOn(r) {
			return
		}
		name := "#" + tag
		names[name] = attr
		if busy {
			i := ":i" + tag
			values[i] = num(interval(r))
			lim := ":l" + tag
			values[lim] = num(nowUS + int64(r.Burst-1)*interval(r))
			sets = append(sets, name+" = "+name+" + "+i)
			conds = append(conds, "("+name+" >= :now AND "+name+" <= "+lim+")")
		} else {
			next := ":n" + tag
			values[next] = num(nowUS + interval(r))
			sets = append(sets, name+" = "+next)
			conds = append(conds, "(attribute_not_exists("+name+") OR "+name+" < :now)")
		}
	}
	bucket("u", attrRateTAT, user, busyU)
	bucket("c", connTokenAttr(connID), conn, busyC)
	out, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &s.table, Key: userRateKey(userID),
		UpdateExpression:          aws.String("SET " + strings.Join(sets, ", ")),
		ConditionExpression:       aws.String(strings.Join(conds, " AND ")),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
		ReturnValues:              types.ReturnValueAllNew,
	})
	if err = translate("take tokens", err); err != nil {
		return [2]int64{}, err
	}
	tatU, _ := numAttr(out.Attributes, attrRateTAT)
	tatC, _ := numAttr(out.Attributes, connTokenAttr(connID))
	s.prune(ctx, userID, connID, out.Attributes, nowUS)
	return [2]int64{tatU, tatC}, nil
}

// prune removes the buckets of connections idle for pruneIdle once there
// are pruneAt of them: an extra write once every few connections a user
// opens, which keeps the item small. A failure is harmless (the next
// write tries again).
func (s *Store) prune(ctx context.Context, userID, connID string, item map[string]types.AttributeValue, nowUS int64) {
	var stale []string
	for name := range item {
		if !strings.HasPrefix(name, "ct#") || name == connTokenAttr(connID) {
			continue
		}
		if tat, ok := numAttr(item, name); ok && tat < nowUS-pruneIdle.Microseconds() {
			stale = append(stale, name)
		}
	}
	if len(stale) < pruneAt {
		return
	}
	names := map[string]string{}
	var removes []string
	for i, name := range stale {
		ref := "#s" + strconv.Itoa(i)
		names[ref] = name
		removes = append(removes, ref)
	}
	_, _ = s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &s.table, Key: userRateKey(userID),
		UpdateExpression:         aws.String("REMOVE " + strings.Join(removes, ", ")),
		ExpressionAttributeNames: names,
	})
}

// tokenState reads both buckets (strongly consistent).
func (s *Store) tokenState(ctx context.Context, userID, connID string) (tatU int64, okU bool, tatC int64, okC bool, err error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: &s.table, Key: userRateKey(userID), ConsistentRead: aws.Bool(true),
		ProjectionExpression:     aws.String("#u, #c"),
		ExpressionAttributeNames: map[string]string{"#u": attrRateTAT, "#c": connTokenAttr(connID)},
	})
	if err != nil {
		return 0, false, 0, false, translate("take tokens: read", err)
	}
	tatU, okU = numAttr(out.Item, attrRateTAT)
	tatC, okC = numAttr(out.Item, connTokenAttr(connID))
	return tatU, okU, tatC, okC, nil
}
