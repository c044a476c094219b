# Renders the UCI package `openc2` (the text of /etc/config/openc2 or of
# `uci export openc2`) as the agent's JSON config file (agent/config/settings.ts).
#
# Plain POSIX awk: runs under BusyBox awk on OpenWrt (no node modules, no jshn) and
# under mawk/gawk in test/unit/packaging-uci.test.ts.
#
# Mapping, with no table to keep in step with the agent: `config agent` options are
# top-level settings, `config <area>` options are `<area>.<name>`; the option name is
# the snake case of the setting (device_id -> deviceId, config mqtt / option tls_ca ->
# mqtt.tlsCa). `list` lines become JSON arrays; an `option` stays a string, and the
# agent's loader converts strings to booleans (1/0, on/off, true/false, yes/no),
# integers and comma separated lists, and rejects unknown settings naming the key.
# A few lists read better singular in UCI (list interface, list prefix, ...).
# Options only the init script uses (enabled, network, respawn_*) are skipped.
#
# Variables (-v): extra_interfaces="dev1 dev2" appends devices the init script resolved
# from `list network` (logical OpenWrt interfaces).
# Exit status: 0 and JSON on stdout, or 2 and one line per problem on stderr.

BEGIN {
	# Singular names that read better as UCI lists.
	alias["agent" SUBSEP "interface"] = "interfaces"
	alias["agent" SUBSEP "profile"] = "profiles"
	alias["management" SUBSEP "prefix"] = "management.prefixes"
	alias["http" SUBSEP "allowed_subject"] = "http.allowedSubjects"
	alias["signing" SUBSEP "trusted_key"] = "signing.trustedKeys"
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

# device_id -> deviceId
function camel(s,    out, i, ch, up) {
	out = ""; up = 0
	for (i = 1; i <= length(s); i++) {
		ch = substr(s, i, 1)
		if (ch == "_") { up = 1; continue }
		out = out (up ? toupper(ch) : ch)
		up = 0
	}
	return out
}

# The setting key of option `name` in a section of type `sect`.
function setting_key(sect, name) {
	if ((sect SUBSEP name) in alias) return alias[sect SUBSEP name]
	return sect == "agent" ? camel(name) : sect "." camel(name)
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

# Appends one list item.
function add_item(key, item) {
	if (!(key in seen)) { seen[key] = 1; keys[++nkeys] = key }
	# Awk may create value[key] before the right side runs: test `items`, not `in`.
	value[key] = items[key] ? value[key] "," jstr(item) : jstr(item)
	items[key]++
	islist[key] = 1
}

function set_option(key, raw) {
	if (!(key in seen)) { seen[key] = 1; keys[++nkeys] = key }
	value[key] = jstr(raw)
	rawval[key] = raw
	items[key] = 0
	islist[key] = 0
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
	if (words[2] !~ /^[a-z][a-z0-9_]*$/) { problem("option name " jstr(words[2]) " is not lower_snake_case"); next }
	if ((section SUBSEP words[2]) in initonly) next
	key = setting_key(section, words[2])
	# A `list` line after an `option` of the same name starts the list afresh.
	if (verb == "list") {
		if ((key in seen) && !islist[key]) items[key] = 0
		add_item(key, words[3])
	} else {
		set_option(key, words[3])
	}
}

END {
	if (extra_interfaces != "") {
		# `option interfaces 'a,b'` becomes a list before the extra devices join it.
		if (("interfaces" in seen) && !islist["interfaces"]) {
			m = split(rawval["interfaces"], devs, ",")
			items["interfaces"] = 0
			for (j = 1; j <= m; j++) {
				gsub(/^[ \t]+|[ \t]+$/, "", devs[j])
				if (devs[j] != "") add_item("interfaces", devs[j])
			}
			if (!items["interfaces"]) value["interfaces"] = ""
			islist["interfaces"] = 1
		}
		m = split(extra_interfaces, devs, " ")
		for (j = 1; j <= m; j++) if (devs[j] != "") add_item("interfaces", devs[j])
	}
	if (problems) exit 2
	# Group dotted keys under their area, in order of first appearance.
	out = ""
	for (i = 1; i <= nkeys; i++) {
		key = keys[i]
		v = islist[key] ? "[" value[key] "]" : value[key]
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
