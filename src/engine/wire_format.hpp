// The boundary format: what one commit hands back to the JavaScript layer,
// as one JSON text. It carries only what JS does not already hold: the
// host's prev/next texts stay on the JS side unless masking or validation
// changed them.
//
// {"changed":bool,
//  "state": <validated next, only when validation normalised it>,
//  "prev": <prev, only when masking or the schema changed it>,
//  "next": <masked/normalised next, only when it differs from the host's>,
//  "changedFields":[...], "delta":{...}, "actor":{...},
//  "occurredAt":"...", "transitionedAt": <epoch ms>, "changeId":"...",
//  "rows":[{kind,entityId,field,fromValue,toValue,transitionedAt}] (host store, pending),
//  "awaitingAppend":bool, "deliver":bool, "subscribers":[ids],
//  "triggers":[...], "payload":{...} (when derived natively), "woken":[tickets]}
//
// With a `tail`, prev and next are not members: their JSON texts go to the
// tail (prev first) and the outcome says how many bytes each took,
// "prevBytes"/"nextBytes". JS then parses them only if a consumer reads the
// event's prev/next, as it does with the host's own texts.
#pragma once

#include <string>
#include <vector>

#include "engine/engine.hpp"

namespace er {

void write_outcome(const CommitOutcome& outcome, bool awaiting_append, std::string& out, std::string* tail = nullptr);
void write_outcomes(const std::vector<CommitOutcome>& outcomes, bool awaiting_append, std::string& out);
void write_rows(const std::vector<TransitionRow>& rows, std::string& out);
void write_error(const Error& error, std::string& out);

}  // namespace er
