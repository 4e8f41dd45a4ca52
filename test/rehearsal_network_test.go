package test

// The network half of the rehearsal (issue 9, finding 10: port 8082 on the proxy was open to the
// whole VPC CIDR). On every deployed configuration, with every reference resolved:
//
//   - no security group admits traffic from a CIDR or prefix list (an address range reaches more
//     than the one client a port is for), unless cidrIngressAllowed names it with a reason;
//   - a load balancer's targets admit their target port from the load balancer's security
//     groups and from nothing else, and do admit it (or the load balancer could not reach them);
//   - a Network Load Balancer behind an API Gateway VPC Link admits nothing itself (only the
//     VPC Link, which arrives over PrivateLink, reaches it) and does not evaluate its inbound
//     rules on PrivateLink traffic, or the VPC Link's requests would be dropped (NLB guide,
//     "Security groups for your Network Load Balancer").

import (
	"fmt"
	"sort"
	"strings"
	"testing"
)

// cidrIngressAllowed are the security-group rules the rehearsal lets admit an address range, by
// "<stack name suffix>/<security group logical id prefix>/<port>", each with its reason. None
// today: every ingress names a security group.
var cidrIngressAllowed = map[string]string{}

// sgRule is one ingress rule, wherever it is declared (inline or its own resource).
type sgRule struct {
	Stack, Where string // the stack and the resource that declares it
	Group        string // the group it opens (resolved id)
	Proto        string
	From, To     int
	Source       string // a source group's id, or "cidr:<range>", "prefix-list:<id>"
}

// covers tells whether the rule admits TCP port.
func (r sgRule) covers(port int) bool {
	return (r.Proto == "-1" || r.Proto == "tcp" || r.Proto == "6") && (r.Proto == "-1" || (r.From <= port && port <= r.To))
}

// netModel is the security groups, rules, instances and load balancers of one deployment.
type netModel struct {
	d      *Deployment
	groups map[string]string   // group id → "stack/logical id"
	rules  []sgRule            // every ingress rule
	inst   map[string][]string // instance id → its groups
	where  map[string]string   // instance id → "stack/logical id"
}

func buildNet(d *Deployment) *netModel {
	m := &netModel{d: d, groups: map[string]string{}, inst: map[string][]string{}, where: map[string]string{}}
	str := func(v interface{}) string { return scalarString(v) }
	port := func(v interface{}, def int) int {
		if n, ok := toInt(v); ok {
			return n
		}
		return def
	}
	rule := func(stack, where, group string, p map[string]interface{}) sgRule {
		r := sgRule{Stack: stack, Where: where, Group: group, Proto: strings.ToLower(str(p["IpProtocol"])),
			From: port(p["FromPort"], 0), To: port(p["ToPort"], 65535)}
		switch {
		case p["SourceSecurityGroupId"] != nil:
			r.Source = str(p["SourceSecurityGroupId"])
		case p["CidrIp"] != nil:
			r.Source = "cidr:" + str(p["CidrIp"])
		case p["CidrIpv6"] != nil:
			r.Source = "cidr:" + str(p["CidrIpv6"])
		case p["SourcePrefixListId"] != nil:
			r.Source = "prefix-list:" + str(p["SourcePrefixListId"])
		default:
			r.Source = "unknown:" + brief(p)
		}
		return r
	}
	for _, sn := range d.StackNames() {
		ds := d.Stack(sn)
		for _, id := range sortedKeysRes(ds.Resources()) {
			props := ds.PropsMap(id)
			switch ds.res[id]["Type"] {
			case "AWS::EC2::SecurityGroup":
				gid := str(ds.physical(id).v)
				m.groups[gid] = sn + "/" + id
				for _, in := range asSlice(props["SecurityGroupIngress"]) {
					m.rules = append(m.rules, rule(sn, id, gid, asMap(in)))
				}
			case "AWS::EC2::SecurityGroupIngress":
				m.rules = append(m.rules, rule(sn, id, str(props["GroupId"]), props))
			case "AWS::EC2::Instance":
				iid := str(ds.physical(id).v)
				m.where[iid] = sn + "/" + id
				var gs []interface{}
				gs = append(gs, asSlice(props["SecurityGroupIds"])...)
				gs = append(gs, asSlice(props["SecurityGroups"])...)
				for _, ni := range asSlice(props["NetworkInterfaces"]) {
					gs = append(gs, asSlice(asMap(ni)["GroupSet"])...)
				}
				for _, g := range gs {
					m.inst[iid] = append(m.inst[iid], str(g))
				}
			}
		}
	}
	return m
}

// netStats counts what the network check evaluated, for the log.
type netStats struct{ Groups, Rules, Targets, VpcLinks int }

// networkFindings checks the deployment's security groups (see the file's comment).
func networkFindings(d *Deployment, stats *netStats) []Finding {
	m := buildNet(d)
	stats.Groups += len(m.groups)
	stats.Rules += len(m.rules)
	var out []Finding
	for _, r := range m.rules {
		if !strings.HasPrefix(r.Source, "sg-") { // a group id (ours, or one the configuration names)
			owner := m.groups[r.Group]
			_, gid, _ := strings.Cut(owner, "/")
			allowed := ""
			for k, why := range cidrIngressAllowed {
				parts := strings.SplitN(k, "/", 3)
				if len(parts) == 3 && strings.HasSuffix(r.Stack, parts[0]) && strings.HasPrefix(gid, parts[1]) && parts[2] == fmt.Sprint(r.From) {
					allowed = why
				}
			}
			if allowed == "" {
				out = append(out, Finding{Check: "network", Where: d.Label, Stack: r.Stack, LogicalID: r.Where, Type: "ingress",
					Rule: fmt.Sprintf("admits %s on %s %d-%d into %s: only security groups may be sources (no address range; issue 9, finding 10)",
						r.Source, r.Proto, r.From, r.To, owner)})
			}
		}
	}
	// Load balancers: their security groups, the target groups their listeners forward to, the
	// VPC Links in front of them.
	type lbInfo struct {
		stack, id, enforce string
		groups             []string
		tgs                []string
		vpcLink            bool
	}
	lbs := map[string]*lbInfo{}
	tgs := map[string][2]string{} // target group ARN → stack, logical id
	for _, sn := range d.StackNames() {
		ds := d.Stack(sn)
		for _, id := range sortedKeysRes(ds.Resources()) {
			props := ds.PropsMap(id)
			switch ds.res[id]["Type"] {
			case "AWS::ElasticLoadBalancingV2::LoadBalancer":
				lb := &lbInfo{stack: sn, id: id, enforce: scalarString(props["EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic"])}
				for _, g := range asSlice(props["SecurityGroups"]) {
					lb.groups = append(lb.groups, scalarString(g))
				}
				lbs[scalarString(ds.physical(id).v)] = lb
			case "AWS::ElasticLoadBalancingV2::TargetGroup":
				tgs[scalarString(ds.physical(id).v)] = [2]string{sn, id}
			}
		}
	}
	for _, sn := range d.StackNames() {
		ds := d.Stack(sn)
		for _, id := range sortedKeysRes(ds.Resources()) {
			props := ds.PropsMap(id)
			switch ds.res[id]["Type"] {
			case "AWS::ElasticLoadBalancingV2::Listener":
				lb := lbs[scalarString(props["LoadBalancerArn"])]
				if lb == nil {
					continue
				}
				for _, a := range asSlice(props["DefaultActions"]) {
					if tg := scalarString(asMap(a)["TargetGroupArn"]); tg != "" {
						lb.tgs = append(lb.tgs, tg)
					}
				}
			case "AWS::ApiGateway::VpcLink":
				for _, arn := range asSlice(props["TargetArns"]) {
					if lb := lbs[scalarString(arn)]; lb != nil {
						lb.vpcLink = true
						stats.VpcLinks++
					}
				}
			}
		}
	}
	lbIDs := make([]string, 0, len(lbs))
	for k := range lbs {
		lbIDs = append(lbIDs, k)
	}
	sort.Strings(lbIDs)
	for _, k := range lbIDs {
		lb := lbs[k]
		f := Finding{Check: "network", Where: d.Label, Stack: lb.stack, LogicalID: lb.id, Type: "AWS::ElasticLoadBalancingV2::LoadBalancer"}
		if len(lb.groups) == 0 {
			f.Rule = "has no security group: its targets could only admit it by address range (a group can only be given to an NLB when it is created)"
			out = append(out, f)
			continue
		}
		lbGroup := map[string]bool{}
		for _, g := range lb.groups {
			lbGroup[g] = true
		}
		if lb.vpcLink {
			for _, r := range m.rules {
				if lbGroup[r.Group] {
					f.Rule = fmt.Sprintf("is an API Gateway VPC Link's target but its group %s admits %s (%s): only the VPC Link should reach it", m.groups[r.Group], r.Source, r.Where)
					out = append(out, f)
				}
			}
			if lb.enforce != "off" {
				f.Rule = "is an API Gateway VPC Link's target, evaluates inbound rules on PrivateLink traffic, and no rule admits the VPC Link: " +
					"its requests would be dropped (set EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic off)"
				out = append(out, f)
			}
		}
		for _, tgArn := range lb.tgs {
			tg, ok := tgs[tgArn]
			if !ok {
				continue
			}
			tds := d.Stack(tg[0])
			tp := tds.PropsMap(tg[1])
			for _, target := range asSlice(tp["Targets"]) {
				tid := scalarString(asMap(target)["Id"])
				p, ok := toInt(asMap(target)["Port"])
				if !ok {
					p, _ = toInt(tp["Port"])
				}
				groups, isInstance := m.inst[tid]
				if !isInstance {
					continue // an IP or Lambda target: no group of ours to check
				}
				stats.Targets++
				tf := Finding{Check: "network", Where: d.Label, Stack: tg[0], LogicalID: tg[1], Type: "AWS::ElasticLoadBalancingV2::TargetGroup"}
				reached := false
				for _, g := range groups {
					for _, r := range m.rules {
						if r.Group != g || !r.covers(p) {
							continue
						}
						if lbGroup[r.Source] {
							reached = true
							continue
						}
						tf.Rule = fmt.Sprintf("target %s port %d also admits %s (%s into %s): only the load balancer's groups may reach a target's port",
							m.where[tid], p, r.Source, r.Where, m.groups[g])
						out = append(out, tf)
					}
				}
				if !reached {
					tf.Rule = fmt.Sprintf("target %s port %d admits none of the load balancer's groups: the load balancer cannot reach it", m.where[tid], p)
					out = append(out, tf)
				}
			}
		}
	}
	return out
}

// TestRehearsalNetwork runs the network check over every configuration.
func TestRehearsalNetwork(t *testing.T) {
	rules := loadRules(t)
	stats := &netStats{}
	var findings []Finding
	for _, c := range rehearsalConfigs() {
		s := synthConfig(t, c)
		if s == nil {
			continue
		}
		fs := networkFindings(deployConfig(t, rules, s, c), stats)
		for i := range fs {
			fs[i].Where = c.Name
		}
		findings = append(findings, fs...)
	}
	if stats.Targets == 0 || stats.VpcLinks == 0 {
		t.Errorf("the network check saw %d load-balancer targets and %d VPC Links: the model no longer finds the proxy path", stats.Targets, stats.VpcLinks)
	}
	t.Logf("rehearsal network: %d security groups and %d ingress rules in %d configurations; %d load-balancer targets and %d VPC Link targets checked",
		stats.Groups, stats.Rules, len(rehearsalConfigs()), stats.Targets, stats.VpcLinks)
	reportFindings(t, "network", findings)
}
