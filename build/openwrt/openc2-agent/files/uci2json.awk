# Renders the UCI package `openc2` (the text of /etc/config/openc2 or of
# `uci export openc2`) as the agent's JSON config file (agent/config/settings.ts).
#
# Plain POSIX awk: runs under BusyBox awk on OpenWrt (no node modules, no jshn) and
# under mawk/gawk in test/unit/packaging-uci.test.ts.
#
# Mapping: a setting `key` without a dot lives in `config agent`; `area.name` lives in
# `config area`. The option name is the snake case of the last part (deviceId ->
# device_id, mqtt.tlsCa -> config mqtt / option tls_ca). List settings take `list`
# lines (or one comma separated `option`); a few read better singular in UCI
# (list interface, list prefix, ...). Options only the init script uses (enabled,
# network, respawn_*) are skipped. An unknown option is an error: the agent would
# refuse the key anyway, and here the message names the UCI option.
#
# Variables (-v): extra_interfaces="dev1 dev2" appends devices the init script resolved
# from `list network` (logical OpenWrt interfaces).
# Exit status: 0 and JSON on stdout, or 2 and one line per problem on stderr.

BEGIN {
	# key|type, in the order of SETTINGS; test/unit/packaging-uci.test.ts checks that
	# this table and agent/config/settings.ts agree.
	n = split("deviceId|string dataplane|string interfaces|list instance|string " \
		"stateDir|path runDir|path profiles|list allowInsecure|boolean " \
		"log.level|string log.format|string " \
		"management.prefixes|list management.antiLockout|boolean " \
		"http.enabled|boolean http.listen|hostport http.insecureBind|boolean " \
		"http.tlsCert|path http.tlsKey|path http.tlsCa|path http.allowedSubjects|list " \
		"mqtt.url|url mqtt.topicPrefix|string mqtt.clientId|string mqtt.username|string " \
		"mqtt.password|string mqtt.tlsCa|path mqtt.tlsCert|path mqtt.tlsKey|path " \
		"mqtt.keepaliveSeconds|integer mqtt.sessionExpirySeconds|integer " \
		"mqtt.healthIntervalSeconds|integer alerts.url|url signing.required|boolean " \
		"signing.trustedKeys|list signing.replayWindowSeconds|integer " \
		"limits.maxMessageBytes|integer", entries, " ")
	for (i = 1; i <= n; i++) {
		split(entries[i], kv, "|")
		key = kv[1]
		order[i] = key
		type[key] = kv[2]
		dot = index(key, ".")
		area = dot ? substr(key, 1, dot - 1) : "agent"
		leaf = dot ? substr(key, dot + 1) : key
		uci[area SUBSEP snake(leaf)] = key
	}
	nkeys = n
	# Singular names that read better as UCI lists.
	uci["agent" SUBSEP "interface"] = "interfaces"
	uci["agent" SUBSEP "profile"] = "profiles"
	uci["management" SUBSEP "prefix"] = "management.prefixes"
	uci["http" SUBSEP "allowed_subject"] = "http.allowedSubjects"
	uci["signing" SUBSEP "trusted_key"] = "signing.trustedKeys"
	# Read by the init script only.
	initonly["agent" SUBSEP "enabled"] = 1
	initonly["agent" SUBSEP "network"] = 1
	initonly["agent" SUBSEP "respawn_threshold"] = 1
	initonly["agent" SUBSEP "respawn_timeout"] = 1
	initonly["agent" SUBSEP "respawn_retry"] = 1

	# JSON escapes for the control characters (BusyBox awk has no ord()).
	for (c = 1; c < 32; c++) ctl[sprintf("%c", c)] = sprintf("\\u%04x", c)
	ctl["\n"] = "\\n"; ctl["\t"] = "\\t"; ctl["\r"] = "\\r"
	problems = 0
	section = ""
}

function snake(s,    out, i, ch) {
	out = ""
	for (i = 1; i <= length(s); i++) {
		ch = substr(s, i, 1)
		if (ch ~ /[A-Z]/) out = out "_" tolower(ch)
		else out = out ch
	}
	return out
}

function problem(msg) {
	printf "uci2json: line %d: %s\n", NR, msg > "/dev/stderr"
	problems++
}

# Splits one UCI line into words[1..], following libuci's rules: single quotes
# take everything literally, double quotes and bare words honour backslash escapes,
# adjacent pieces join into one word, `#` outside quotes starts a comment.
# Returns the number of words, or -1 on an unterminated quote.
function tokenize(line,    i, ch, len, word, inword, quote, count) {
	count = 0; word = ""; inword = 0; quote = ""
	len = length(line)
	for (i = 1; i <= len; i++) {
		ch = substr(line, i, 1)
		if (quote == "'") {
			if (ch == "'") quote = ""
			else word = word ch
		} else if (quote == "\"") {
			if (ch == "\"") quote = ""
			else if (ch == "\\" && i < len) { i++; word = word substr(line, i, 1) }
			else word = word ch
		} else if (ch == "'" || ch == "\"") {
			quote = ch; inword = 1
		} else if (ch == "\\" && i < len) {
			i++; word = word substr(line, i, 1); inword = 1
		} else if (ch == " " || ch == "\t" || ch == "\r") {
			if (inword) { words[++count] = word; word = ""; inword = 0 }
		} else if (ch == "#" && !inword) {
			break
		} else {
			word = word ch; inword = 1
		}
	}
	if (quote != "") return -1
	if (inword) words[++count] = word
	return count
}

function jstr(s,    out, i, ch) {
	out = ""
	for (i = 1; i <= length(s); i++) {
		ch = substr(s, i, 1)
		if (ch == "\\") out = out "\\\\"
		else if (ch == "\"") out = out "\\\""
		else if (ch in ctl) out = out ctl[ch]
		else out = out ch
	}
	return "\"" out "\""
}

function convert(key, raw, name,    t, v) {
	t = type[key]
	if (t == "boolean") {
		v = tolower(raw)
		if (v ~ /^(1|on|true|yes|enabled)$/) return "true"
		if (v ~ /^(0|off|false|no|disabled)$/) return "false"
		problem(name ": " jstr(raw) " is not a boolean (1/0, on/off, true/false)")
		return ""
	}
	if (t == "integer") {
		if (raw ~ /^[0-9]+$/) { sub(/^0+/, "", raw); return raw == "" ? "0" : raw }
		problem(name ": " jstr(raw) " is not a non-negative integer")
		return ""
	}
	return jstr(raw)
}

# Appends one list item (or several, comma separated, from an `option`).
function add_items(key, raw, name,    parts, m, j, item) {
	m = split(raw, parts, ",")
	for (j = 1; j <= m; j++) {
		item = parts[j]
		gsub(/^[ \t]+|[ \t]+$/, "", item)
		if (item == "") continue
		# Awk may create value[key] before the right side runs: test `items`, not `in`.
		value[key] = items[key] ? value[key] "," jstr(item) : jstr(item)
		items[key]++
	}
	if (!(key in value)) value[key] = ""
}

{
	count = tokenize($0)
	if (count < 0) { problem("unterminated quote"); next }
	if (count == 0) next
	verb = words[1]
	if (verb == "package") next
	if (verb == "config") {
		section = words[2]
		if (section == "") problem("config without a section type")
		next
	}
	if (verb != "option" && verb != "list") { problem("unknown statement " jstr(verb)); next }
	if (count < 3) { problem(verb " " jstr(words[2]) " has no value"); next }
	if (section == "") { problem(verb " " jstr(words[2]) " outside a config section"); next }
	name = section "." words[2]
	if ((section SUBSEP words[2]) in initonly) next
	if (!((section SUBSEP words[2]) in uci)) { problem("unknown option " jstr(words[2]) " in config " section); next }
	key = uci[section SUBSEP words[2]]
	if (type[key] == "list") {
		# An `option` replaces what came before; `list` lines accumulate.
		if (verb == "option") { delete value[key]; items[key] = 0 }
		add_items(key, words[3], name)
		next
	}
	if (verb == "list") { problem(name " is a single value: use option, not list"); next }
	converted = convert(key, words[3], name)
	if (converted != "") value[key] = converted
}

END {
	if (extra_interfaces != "") {
		m = split(extra_interfaces, devs, " ")
		for (j = 1; j <= m; j++) if (devs[j] != "") add_items("interfaces", devs[j], "network")
	}
	if (problems) exit 2
	# Group dotted keys under their area, in table order.
	out = ""
	for (i = 1; i <= nkeys; i++) {
		key = order[i]
		if (!(key in value)) continue
		v = (type[key] == "list") ? "[" value[key] "]" : value[key]
		dot = index(key, ".")
		if (!dot) { out = out (out == "" ? "" : ",\n") "  " jstr(key) ": " v; continue }
		area = substr(key, 1, dot - 1)
		leaf = substr(key, dot + 1)
		if (!(area in areabody)) { areas[++nareas] = area; areabody[area] = "" }
		areabody[area] = areabody[area] (areabody[area] == "" ? "" : ",\n") "    " jstr(leaf) ": " v
	}
	for (a = 1; a <= nareas; a++)
		out = out (out == "" ? "" : ",\n") "  " jstr(areas[a]) ": {\n" areabody[areas[a]] "\n  }"
	print "{"
	if (out != "") print out
	print "}"
}
