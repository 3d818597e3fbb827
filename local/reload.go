package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/wschat/wschat/internal/template"
	"github.com/wschat/wschat/local/gateway"
	"github.com/wschat/wschat/local/lambda"
)

// reloadTemplate takes in a changed template without closing a connection:
// each function keeps its instances' process manager and gets the new
// environment, timeout and concurrency by a swap (in-flight invocations
// finish on the old ones); new functions are built and started; removed
// ones are stopped; new tables and queues are created and existing ones,
// with their data and messages, kept; the gateway routes later messages by
// the new routes; changed event source mappings restart.
func (w *watcher) reloadTemplate(ctx context.Context) (string, error) {
	e := w.e
	stack, err := e.resolveStack()
	if err != nil {
		return "", err
	}
	if stack.Stage != e.stack.Stage {
		return "", fmt.Errorf("the stage changed from %s to %s: restart the emulator", e.stack.Stage, stack.Stage)
	}
	expr, err := gateway.ParseExpression(stack.API.RouteSelectionExpression)
	if err != nil {
		return "", fmt.Errorf("%s (AWS::ApiGatewayV2::Api) property RouteSelectionExpression: %w", stack.API.LogicalID, err)
	}
	newTables, err := w.createNewTables(ctx, stack)
	if err != nil {
		return "", err
	}
	var newQueues []string
	if e.sqs != nil {
		if newQueues, err = e.sqs.syncQueues(stack); err != nil {
			return "", err
		}
	}
	fns, bootstraps, added, removed, err := w.swapFunctions(ctx, stack)
	if err != nil {
		return "", err
	}
	routes, err := e.routes(stack, fns)
	if err != nil {
		return "", err
	}
	e.gateway.Reroute(expr, routes, stageThrottle(e.cfg.stageThrottle, stack.Throttle))
	e.functionsMu.Lock()
	e.stack, e.functions, e.bootstraps = stack, fns, bootstraps
	e.functionsMu.Unlock()
	var started, stopped []string
	if e.sqs != nil {
		if started, stopped, err = e.sqs.syncMappings(stack, fns, e.cfg.region); err != nil {
			return "", err
		}
	}
	if err := e.syncIntegrations(stack, fns); err != nil {
		return "", err
	}
	streamsStarted, streamsStopped, err := e.syncStreamMappings(stack)
	if err != nil {
		return "", err
	}
	started, stopped = append(started, streamsStarted...), append(stopped, streamsStopped...)
	e.startSchedules(stack, fns)
	note := fmt.Sprintf("template reloaded (%d routes, %d functions", len(stack.Routes), len(stack.Functions))
	if len(added) > 0 {
		note += fmt.Sprintf(", %d new", len(added))
	}
	for _, part := range []struct {
		what  string
		names []string
	}{{"removed", removed}, {"new tables", newTables}, {"new queues", newQueues}, {"mappings started", started}, {"mappings stopped", stopped}} {
		if len(part.names) > 0 {
			note += ", " + part.what + " " + strings.Join(part.names, ", ")
		}
	}
	return note + ")", nil
}

// swapFunctions builds the functions stack adds, swaps the configuration of
// those it keeps and stops those it removes.
func (w *watcher) swapFunctions(ctx context.Context, stack *template.Stack) (fns map[*template.Function]*lambda.Function, bootstraps map[*template.Function]string, added []*template.Function, removed []string, err error) {
	e := w.e
	byID := map[string]*template.Function{}
	for _, f := range e.stack.Functions {
		byID[f.LogicalID] = f
	}
	for _, f := range stack.Functions {
		if byID[f.LogicalID] == nil {
			added = append(added, f)
		}
	}
	built, err := prepareFunctions(ctx, e.cfg, added, e.buildDir, e.out)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	fns, bootstraps = map[*template.Function]*lambda.Function{}, map[*template.Function]string{}
	for _, f := range stack.Functions {
		old := byID[f.LogicalID]
		if old == nil {
			bootstraps[f] = built[f]
			fns[f] = lambda.New(e.functionConfig(f, built[f]))
			continue
		}
		delete(byID, f.LogicalID)
		bootstraps[f] = e.bootstraps[old]
		fns[f] = e.functions[old]
		fns[f].Swap(e.functionConfig(f, bootstraps[f]))
	}
	for _, old := range byID {
		removed = append(removed, old.Label)
		if err := e.functions[old].Close(); err != nil {
			e.out.printf("%v", err)
		}
	}
	return fns, bootstraps, added, removed, nil
}

// createNewTables creates the tables stack has and the running one does not.
func (w *watcher) createNewTables(ctx context.Context, stack *template.Stack) ([]string, error) {
	e := w.e
	have := map[string]bool{}
	for _, t := range e.stack.Tables {
		have[t.Name] = true
	}
	var fresh []*template.Table
	var names []string
	for _, t := range stack.Tables {
		if !have[t.Name] {
			fresh = append(fresh, t)
			names = append(names, t.Name)
		}
	}
	if len(fresh) == 0 {
		return nil, nil
	}
	if e.dynamoEndpoint == "" {
		return nil, fmt.Errorf("new tables %s but no DynamoDB was started (the template had none): restart the emulator", strings.Join(names, ", "))
	}
	return names, createTables(ctx, e.dynamoEndpoint, e.cfg.region, fresh, e.out)
}
