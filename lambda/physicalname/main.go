// Command physicalname is the CloudFormation custom resource that names a resource after the
// values CloudFormation cannot change in place. A resource with an explicit name is replaced,
// not updated, when one of its create-only properties changes; CloudFormation creates the
// replacement before it deletes the original, so the replacement needs a name of its own. This
// handler gets the create-only values as they are at deploy time (subnet and security group
// ids, bootstrap servers, role and plugin ARNs — values a synth cannot see) and answers
// "<Prefix>-<8 hex digits of their SHA-256>": any change to them is a new name, no change keeps
// the name.
//
// Resource properties: Prefix (the stable part of the name), Inputs (any JSON: the create-only
// values), MaxLength (optional: the name's limit at its service). Attribute: Name.
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"

	"github.com/aws/aws-lambda-go/cfn"
	"github.com/aws/aws-lambda-go/lambda"
)

func main() { lambda.Start(cfn.LambdaWrap(handle)) }

// prefixRE is what every name that uses this handler may hold: letters, digits and '-' (the
// common ground of MSK clusters, MSK Connect connectors and plugins, and MWAA environments).
var prefixRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9-]*$`)

// digestLen is how many hex digits of the digest go into the name: 32 bits, so that a clash
// between two input sets of the same prefix is a one-in-four-billion event.
const digestLen = 8

func handle(_ context.Context, ev cfn.Event) (string, map[string]interface{}, error) {
	if ev.RequestType == cfn.RequestDelete {
		// Nothing exists but the name: deleting it is nothing.
		return ev.PhysicalResourceID, nil, nil
	}
	name, err := Name(ev.ResourceProperties)
	if err != nil {
		return "", nil, err
	}
	// The name is the physical id: a new name replaces this resource too, and the old one's
	// delete (above) is harmless.
	return name, map[string]interface{}{"Name": name}, nil
}

// Name is the name the resource properties props call for.
func Name(props map[string]interface{}) (string, error) {
	prefix, _ := props["Prefix"].(string)
	if !prefixRE.MatchString(prefix) {
		return "", fmt.Errorf("property Prefix: %q must start with a letter and hold only letters, digits and '-'", prefix)
	}
	inputs, ok := props["Inputs"]
	if !ok {
		return "", fmt.Errorf("property Inputs: required (the create-only values the name follows)")
	}
	name := prefix + "-" + Digest(inputs)
	if raw, ok := props["MaxLength"]; ok {
		// CloudFormation passes numbers as strings.
		max, err := strconv.Atoi(fmt.Sprint(raw))
		if err != nil || max < 1 {
			return "", fmt.Errorf("property MaxLength: want a positive whole number, got %v", raw)
		}
		if len(name) > max {
			return "", fmt.Errorf("name %q is %d characters, more than the %d its service allows", name, len(name), max)
		}
	}
	return name, nil
}

// Digest is the first digestLen hex digits of the SHA-256 of v's JSON encoding. encoding/json
// writes map keys sorted, so equal values give equal digests however CloudFormation ordered
// the keys.
func Digest(v interface{}) string {
	b, err := json.Marshal(v)
	if err != nil {
		// Values decoded from JSON always encode again.
		panic(fmt.Sprintf("physicalname: %v", err))
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])[:digestLen]
}
