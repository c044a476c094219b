import t from 'tap';
import { publishProperties, readFrameProperties, topicTree } from '../../agent/transports/mqtt-topics.js';

t.test('topic tree of MQTT transfer spec table 2-1, for the enabled profiles', async (t) => {
  const tree = topicTree('', 'router-1', ['pf', 'slpf']);
  t.same(tree.commands, ['oc2/cmd/all', 'oc2/cmd/ap/pf', 'oc2/cmd/ap/slpf', 'oc2/cmd/device/router-1']);
  t.equal(tree.responses, 'oc2/rsp');
  t.equal(tree.responsesFor('orch-1'), 'oc2/rsp/orch-1');
  t.equal(tree.presence, 'oc2/presence/router-1');
  t.same(topicTree('', 'r', ['slpf']).commands, ['oc2/cmd/all', 'oc2/cmd/ap/slpf', 'oc2/cmd/device/r']);
});

t.test('a topic prefix puts the tree under a tenant folder, with or without a trailing slash', async (t) => {
  t.equal(topicTree('tenant-a', 'r', []).all, 'tenant-a/oc2/cmd/all');
  t.equal(topicTree('tenant-a/', 'r', []).responsesFor('p'), 'tenant-a/oc2/rsp/p');
});

t.test('a producer id that cannot be one topic level gets the general response topic', async (t) => {
  const tree = topicTree('', 'r', []);
  for (const from of [undefined, '', 'a/b', 'a+b', '#']) t.equal(tree.responsesFor(from), 'oc2/rsp', JSON.stringify(from));
  t.equal(tree.responsesFor('Producer1@example.com'), 'oc2/rsp/Producer1@example.com');
});

t.test('publish properties per spec 3.2: format indicator, content type, msgType and encoding', async (t) => {
  t.same(publishProperties('rsp', 'json'), { payloadFormatIndicator: true, contentType: 'application/openc2', userProperties: { msgType: 'rsp', encoding: 'json' } });
  t.same(publishProperties('req', 'cbor'), { payloadFormatIndicator: false, contentType: 'application/openc2', userProperties: { msgType: 'req', encoding: 'cbor' } });
});

t.test('received framing: a conforming request has no problems; each deviation is named', async (t) => {
  const json = Buffer.from('{}');
  t.same(readFrameProperties(publishProperties('req', 'cbor'), Buffer.from([0xa0])), { msgType: 'req', encoding: 'cbor', problems: [] });
  t.same(readFrameProperties({ ...publishProperties('req', 'json'), contentType: 'application/openc2;version=1.0' }, json).problems, []);
  t.match(readFrameProperties({ ...publishProperties('req', 'json'), contentType: 'text/plain' }, json).problems, [/Content Type "text\/plain"/]);
  const bare = readFrameProperties(undefined, json);
  t.equal(bare.encoding, 'json', 'guessed from the first byte, to find the request_id');
  t.match(bare.problems, [/Content Type/, /msgType is missing/, /encoding is missing/]);
  t.match(readFrameProperties({ contentType: 'application/openc2', userProperties: { msgType: 'req', encoding: 'xml' } }, json).problems, [/encoding "xml"/]);
});
