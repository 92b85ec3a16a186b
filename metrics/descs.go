package metrics

import "github.com/prometheus/client_golang/prometheus"

// descs are the descriptors of every family the collector exports. The
// first group is the seed's published contract: names, types, labels and
// meanings never change.
type descs struct {
	// Seed families.
	cacheHitRate, requestSuccessRate, apiErrors, apiDuration *prometheus.Desc
	agentCapital, agentTrades, agentWinRate, agentScars      *prometheus.Desc
	rounds, agentWins, agentFinalCapital                     *prometheus.Desc
	activeConnections, messagesBroadcast, uptime             *prometheus.Desc

	// Arena and strategies.
	ticks, agentTicks, eventSequence                     *prometheus.Desc
	agents, deaths, spawns, trades, winningTrades, scars *prometheus.Desc
	strategyCapital, agentsBelow                         *prometheus.Desc

	// Market data: prices from the arena, traffic from the live feed.
	marketPrice, marketStale, marketLastTick              *prometheus.Desc
	marketRequests, marketFailures, marketErrors          *prometheus.Desc
	marketCacheRequests, marketCacheHits, marketStaleServ *prometheus.Desc
	marketBreakerOpen, marketRounds, marketOffline        *prometheus.Desc

	// WebSocket hub.
	wsAccepted, wsRefused, wsSentBytes, wsSlow, wsDropped, wsProtocolErrors *prometheus.Desc

	// Event log.
	logAppendDuration, logRecords, logDurable, logAppends, logBytes, logSegments, logFailed *prometheus.Desc

	// Scale-out: the JetStream publisher (serve --nats-url) and an edge.
	natsPublished, natsLag, natsErrors, natsBatches, natsDiverged, natsSnapshots, natsPublishDelay *prometheus.Desc
	edgeLag, edgeDelivered, edgeResets, edgeChainFailures, edgeDeliveryDelay                       *prometheus.Desc
}

func newDesc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, labels, nil)
}

func newDescs() descs {
	return descs{
		cacheHitRate:       newDesc("lineage_cache_hit_rate", "Market-data cache hit rate since start, percent (0-100): symbol lookups answered fresh from a provider's cache over all lookups; 100 before the first lookup (none has missed), as on a sim or replay feed."),
		requestSuccessRate: newDesc("lineage_request_success_rate", "Market-data request success rate since start, percent (0-100): HTTP requests to price providers that succeeded over all requests; 100 before the first request (none has failed), as on a sim or replay feed."),
		apiErrors:          newDesc("lineage_api_errors_total", "Market-data API errors over all providers and reasons: failed requests and calls refused without a request."),
		apiDuration:        newDesc("lineage_api_request_duration_seconds", "Duration of HTTP requests to market-data providers, failed ones included, over all providers."),
		agentCapital:       newDesc("lineage_agent_capital", "Agent equity at mark in USD (cash plus position value); living agents only, at most the agent-label bound: the poorest half and the richest half.", "agent"),
		agentTrades:        newDesc("lineage_agent_trades_total", "Trades the agent has closed.", "agent"),
		agentWinRate:       newDesc("lineage_agent_win_rate", "Agent win rate as a fraction (0-1): winning closed trades over closed trades.", "agent"),
		agentScars:         newDesc("lineage_agent_scars_total", "Permanent scars the agent carries.", "agent"),
		rounds:             newDesc("lineage_arena_rounds_total", "Arena rounds completed."),
		agentWins:          newDesc("lineage_arena_agent_wins_total", "Arena rounds the agent has won.", "agent"),
		agentFinalCapital:  newDesc("lineage_arena_agent_final_capital", "Agent equity in USD at the end of the last completed round.", "agent"),
		activeConnections:  newDesc("lineage_active_connections", "Open WebSocket connections."),
		messagesBroadcast:  newDesc("lineage_messages_broadcast_total", "Messages written to WebSocket clients (one per frame)."),
		uptime:             newDesc("lineage_uptime_seconds", "Seconds since the server started."),

		ticks:           newDesc("lineage_arena_ticks_total", "Market ticks the arena has processed."),
		agentTicks:      newDesc("lineage_arena_agent_ticks_total", "Agent decisions the arena has made: living agents summed over ticks."),
		eventSequence:   newDesc("lineage_event_sequence", "Sequence number the arena's next event will carry (the global, gap-free event counter)."),
		agents:          newDesc("lineage_agents", "Agents by strategy and status (active, resting, deceased); deceased counts every agent that ever died.", "strategy", "status"),
		deaths:          newDesc("lineage_agent_deaths_total", "Agent deaths by strategy and cause.", "strategy", "cause"),
		spawns:          newDesc("lineage_agent_spawns_total", "Agents born of a parent, by strategy.", "strategy"),
		trades:          newDesc("lineage_trades_total", "Trades closed by the strategy's agents, living and dead.", "strategy"),
		winningTrades:   newDesc("lineage_winning_trades_total", "Closed trades with a positive net result (fees included), by strategy, living and dead agents.", "strategy"),
		scars:           newDesc("lineage_scars_total", "Permanent scars taken by the strategy's agents, living and dead.", "strategy"),
		strategyCapital: newDesc("lineage_strategy_capital_usd", "Equity at mark in USD summed over the strategy's living agents.", "strategy"),
		agentsBelow:     newDesc("lineage_agents_below_capital", "Living agents of the strategy whose equity at mark is strictly below the below label's amount in USD (1000, 10000, 25000, 50000, 100000), labelled or not.", "strategy", "below"),

		marketPrice:         newDesc("lineage_market_price_usd", "Latest price the arena has for the symbol, in USD (quote currency).", "symbol"),
		marketStale:         newDesc("lineage_market_price_stale", "1 when the symbol's latest price was served stale from a cache, 0 when it was fresh.", "symbol"),
		marketLastTick:      newDesc("lineage_market_last_tick_timestamp_seconds", "Unix time in seconds of the symbol's last tick; absent before its first.", "symbol"),
		marketRequests:      newDesc("lineage_market_requests_total", "HTTP requests sent to the market-data provider, retries included.", "provider"),
		marketFailures:      newDesc("lineage_market_request_failures_total", "HTTP requests to the market-data provider that failed, whatever the reason.", "provider"),
		marketErrors:        newDesc("lineage_market_request_errors_total", "Market-data errors by provider and reason: failed requests, and calls refused without a request (breaker_open, rate_limited, auth).", "provider", "reason"),
		marketCacheRequests: newDesc("lineage_market_cache_requests_total", "Symbol price lookups in the provider's cache.", "provider"),
		marketCacheHits:     newDesc("lineage_market_cache_hits_total", "Symbol price lookups answered with a fresh price from the provider's cache.", "provider"),
		marketStaleServ:     newDesc("lineage_market_stale_prices_served_total", "Ticks served with a stale price from the provider's cache because no provider had a fresh one.", "provider"),
		marketBreakerOpen:   newDesc("lineage_market_breaker_open", "1 while the provider's circuit breaker is open and refuses calls, 0 when it is closed or half-open.", "provider"),
		marketRounds:        newDesc("lineage_market_fetch_rounds_total", "Fetch rounds of the live feed: one per tick interval."),
		marketOffline:       newDesc("lineage_market_offline", "1 while the live feed's last fetch round got no fresh price from any provider."),

		wsAccepted:       newDesc("lineage_websocket_connections_accepted_total", "WebSocket connections upgraded."),
		wsRefused:        newDesc("lineage_websocket_connections_refused_total", "Connections turned away before the WebSocket upgrade, by reason (max_conns, origin, token).", "reason"),
		wsSentBytes:      newDesc("lineage_websocket_sent_bytes_total", "Bytes of messages written to WebSocket clients."),
		wsSlow:           newDesc("lineage_websocket_slow_disconnects_total", "WebSocket clients disconnected because they could not keep up: unread data (an unanswered ping), queue overflow or write timeout."),
		wsDropped:        newDesc("lineage_websocket_messages_dropped_total", "Messages never delivered because their client was disconnected while they waited in its queue."),
		wsProtocolErrors: newDesc("lineage_websocket_protocol_errors_total", "Client frames answered with an error or a close: malformed JSON, unknown types, oversized frames, floods."),

		logAppendDuration: newDesc("lineage_eventlog_append_duration_seconds", "Duration of the event log's group commits (write and fsync) that make appended events durable."),
		logRecords:        newDesc("lineage_eventlog_records", "Records in the event log."),
		logDurable:        newDesc("lineage_eventlog_durable_records", "Records of the event log synced to disk."),
		logAppends:        newDesc("lineage_eventlog_appends_total", "Records appended to the event log since the server started."),
		logBytes:          newDesc("lineage_eventlog_written_bytes_total", "Bytes written to the event log since the server started."),
		logSegments:       newDesc("lineage_eventlog_segments", "Segment files of the event log."),
		logFailed:         newDesc("lineage_eventlog_write_failed", "1 while a write or fsync of the event log is failing: new events are held and the write retried until it succeeds."),

		natsPublished:    newDesc("lineage_nats_published_sequence", "Last event sequence known to be in the JetStream stream (serve --nats-url)."),
		natsLag:          newDesc("lineage_nats_publisher_lag_events", "Events durable in the event log and not yet in the JetStream stream: the log's last durable sequence minus the stream's last."),
		natsErrors:       newDesc("lineage_nats_publish_errors_total", "Failed JetStream publishes and reconciliations; each is retried after a reconciliation."),
		natsBatches:      newDesc("lineage_nats_batches_total", "JetStream atomic batches committed (one per time step, or per part of a step past the batch bound)."),
		natsDiverged:     newDesc("lineage_nats_stream_diverged", "1 once the JetStream stream was found to differ from the event log: publishing stopped until an operator rebuilds the stream."),
		natsSnapshots:    newDesc("lineage_nats_snapshots_total", "Snapshots written to the run's JetStream Object Store bucket for edges to start from."),
		natsPublishDelay: newDesc("lineage_nats_publish_delay_seconds", "Time from an atomic batch's first event's record time (the engine's commit) to JetStream's acknowledgement of the batch; one observation a batch."),

		edgeLag:           newDesc("lineage_edge_lag_events", "Events in the JetStream stream not yet delivered by this edge: the stream's last known sequence minus the edge's last delivered."),
		edgeDelivered:     newDesc("lineage_edge_delivered_sequence", "Last event sequence this edge verified and handed to its clients."),
		edgeResets:        newDesc("lineage_edge_consumer_resets_total", "Times this edge read the JetStream stream anew after an error or a chain failure."),
		edgeChainFailures: newDesc("lineage_edge_chain_failures_total", "Stream messages this edge refused because their sequence or hash chain did not verify; none of them was delivered."),
		edgeDeliveryDelay: newDesc("lineage_edge_delivery_delay_seconds", "Time from an atomic batch's first event's record time (the engine's commit, on the engine's clock) to this edge handing the batch to its clients' hub; one observation a batch."),
	}
}

// all lists every descriptor, for Describe.
func (x *descs) all() []*prometheus.Desc {
	return []*prometheus.Desc{
		x.cacheHitRate, x.requestSuccessRate, x.apiErrors, x.apiDuration,
		x.agentCapital, x.agentTrades, x.agentWinRate, x.agentScars,
		x.rounds, x.agentWins, x.agentFinalCapital,
		x.activeConnections, x.messagesBroadcast, x.uptime,
		x.ticks, x.agentTicks, x.eventSequence,
		x.agents, x.deaths, x.spawns, x.trades, x.winningTrades, x.scars, x.strategyCapital, x.agentsBelow,
		x.marketPrice, x.marketStale, x.marketLastTick,
		x.marketRequests, x.marketFailures, x.marketErrors,
		x.marketCacheRequests, x.marketCacheHits, x.marketStaleServ,
		x.marketBreakerOpen, x.marketRounds, x.marketOffline,
		x.wsAccepted, x.wsRefused, x.wsSentBytes, x.wsSlow, x.wsDropped, x.wsProtocolErrors,
		x.logAppendDuration, x.logRecords, x.logDurable, x.logAppends, x.logBytes, x.logSegments, x.logFailed,
		x.natsPublished, x.natsLag, x.natsErrors, x.natsBatches, x.natsDiverged, x.natsSnapshots, x.natsPublishDelay,
		x.edgeLag, x.edgeDelivered, x.edgeResets, x.edgeChainFailures, x.edgeDeliveryDelay,
	}
}
