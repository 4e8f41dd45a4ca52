// Package physicalname is the L3 construct for an explicit physical name that follows the
// create-only properties of its resource. CloudFormation replaces a resource when a create-only
// property changes, creating the new one before deleting the old: with a fixed name the create
// fails on the name, and the update with it. A name "<prefix>-<digest of the create-only
// values>" is new exactly when a replacement is coming.
//
// The digest is taken at deploy time, by a custom resource (lambda/physicalname): the values
// that matter most (subnet and security group ids, bootstrap servers, ARNs) are unknown at synth.
// One provider function serves every name of a stack.
package physicalname

import (
	"fmt"
	"regexp"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/pinpipe/pinpipe/constructs/golambda"
)

// ResourceType is the CloudFormation type of the name resources.
const ResourceType = "Custom::PhysicalName"

// DigestLen is the length of the "-<digest>" the handler appends to the prefix.
const DigestLen = 9

// Props configures a PhysicalName. Prefix and Inputs are required.
type Props struct {
	// Prefix is the stable part of the name: a letter, then letters, digits and '-'.
	Prefix string
	// Inputs are the create-only properties of the named resource, as they appear in it (tokens
	// and all), keyed by property name.
	Inputs map[string]interface{}
	// MaxLength is the longest name the resource's service accepts; 0 for no check.
	MaxLength int
}

// PhysicalName is the name and the custom resource that computes it.
type PhysicalName struct {
	constructs.Construct
	Resource awscdk.CustomResource
	// Name is "<Prefix>-<8 hex digits>", a deploy-time value.
	Name *string
}

var prefixRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9-]*$`)

// New declares the name. Invalid props panic with a message naming the field.
func New(scope constructs.Construct, id string, props *Props) *PhysicalName {
	if props == nil || !prefixRE.MatchString(props.Prefix) {
		panic(fmt.Sprintf("physicalname.Props.Prefix: %q must start with a letter and hold only letters, digits and '-'", prefixOf(props)))
	}
	if len(props.Inputs) == 0 {
		panic("physicalname.Props.Inputs: the create-only properties the name follows are required")
	}
	if props.MaxLength > 0 && len(props.Prefix)+DigestLen > props.MaxLength {
		panic(fmt.Sprintf("physicalname.Props.Prefix: %q leaves no room for the digest in %d characters", props.Prefix, props.MaxLength))
	}
	c := constructs.NewConstruct(scope, jsii.String(id))
	properties := map[string]interface{}{"Prefix": props.Prefix, "Inputs": props.Inputs}
	if props.MaxLength > 0 {
		properties["MaxLength"] = props.MaxLength
	}
	n := &PhysicalName{Construct: c}
	n.Resource = awscdk.NewCustomResource(c, jsii.String("Resource"), &awscdk.CustomResourceProps{
		ServiceToken: provider(awscdk.Stack_Of(c)).FunctionArn(),
		ResourceType: jsii.String(ResourceType),
		Properties:   &properties,
	})
	n.Name = n.Resource.GetAttString(jsii.String("Name"))
	return n
}

func prefixOf(p *Props) string {
	if p == nil {
		return ""
	}
	return p.Prefix
}

// providerID is the construct id of the stack's provider function.
const providerID = "PhysicalNameProvider"

// provider is the stack's one physicalname function, declared on first use.
func provider(stack awscdk.Stack) awslambda.IFunction {
	if existing := stack.Node().TryFindChild(jsii.String(providerID)); existing != nil {
		return existing.Node().FindChild(jsii.String("Function")).(awslambda.Function)
	}
	fn := golambda.New(stack, providerID, &golambda.Props{
		Entry:       "lambda/physicalname",
		Description: "Names resources after their create-only properties (Custom::PhysicalName)",
		MemorySize:  128,
	})
	return fn.Function
}
