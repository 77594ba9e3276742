"""The local stack's CloudFormation reader: intrinsic functions and resource creation order."""

from __future__ import annotations

import pytest

from local_stack.template import Resolver, Template, UnresolvableError


@pytest.fixture
def resolver() -> Resolver:
    r = Resolver(account_id="123456789012", region="ap-southeast-2", stack_name="BulkIngest")
    r.refs.update({"UploadsBucket": "bulkingest-uploads", "ApiFunction": "BulkIngest-ApiFunction"})
    r.attributes.update({
        "UploadsBucket": {"Arn": "arn:aws:s3:::bulkingest-uploads"},
        "ApiFunction": {"Arn": "arn:aws:lambda:ap-southeast-2:123456789012:function:BulkIngest-ApiFunction"},
        "RestApi": {"RootResourceId": "root"},
    })
    return r


# -- Ref and GetAtt ------------------------------------------------------------------------------

def test_ref_to_resource_and_pseudo_parameters(resolver):
    assert resolver.resolve({"Ref": "UploadsBucket"}) == "bulkingest-uploads"
    assert resolver.resolve({"Ref": "AWS::Region"}) == "ap-southeast-2"
    assert resolver.resolve({"Ref": "AWS::AccountId"}) == "123456789012"
    assert resolver.resolve({"Ref": "AWS::Partition"}) == "aws"
    assert resolver.resolve({"Ref": "AWS::URLSuffix"}) == "amazonaws.com"
    assert resolver.resolve({"Ref": "AWS::StackName"}) == "BulkIngest"
    assert resolver.resolve({"Ref": "AWS::StackId"}).startswith(
        "arn:aws:cloudformation:ap-southeast-2:123456789012:stack/BulkIngest/"
    )


def test_ref_to_unknown_resource_is_an_error(resolver):
    with pytest.raises(UnresolvableError, match=r"Ref to Missing"):
        resolver.resolve({"Ref": "Missing"})


def test_get_att_list_and_dotted_forms(resolver):
    assert resolver.resolve({"Fn::GetAtt": ["UploadsBucket", "Arn"]}) == "arn:aws:s3:::bulkingest-uploads"
    assert resolver.resolve({"Fn::GetAtt": "RestApi.RootResourceId"}) == "root"


def test_get_att_unknown_attribute_is_an_error(resolver):
    with pytest.raises(UnresolvableError, match=r"UploadsBucket.DomainName"):
        resolver.resolve({"Fn::GetAtt": ["UploadsBucket", "DomainName"]})


def test_unsupported_intrinsic_is_an_error(resolver):
    with pytest.raises(UnresolvableError, match=r"Fn::ImportValue"):
        resolver.resolve({"Fn::ImportValue": "Shared-Bucket"})


# -- Join, Sub, Select, Split ----------------------------------------------------------------------

def test_join_resolves_nested_values(resolver):
    value = {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":s3:::", {"Ref": "UploadsBucket"}, "/*"]]}
    assert resolver.resolve(value) == "arn:aws:s3:::bulkingest-uploads/*"


def test_join_with_separator(resolver):
    assert resolver.resolve({"Fn::Join": [",", ["a", {"Ref": "AWS::Region"}, "c"]]}) == "a,ap-southeast-2,c"


def test_sub_pseudo_parameter_attribute_and_ref(resolver):
    text = "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${UploadsBucket}/${ApiFunction.Arn}"
    assert resolver.resolve({"Fn::Sub": text}) == (
        "arn:aws:execute-api:ap-southeast-2:123456789012:bulkingest-uploads/"
        "arn:aws:lambda:ap-southeast-2:123456789012:function:BulkIngest-ApiFunction"
    )


def test_sub_escaped_literal_is_kept(resolver):
    assert resolver.resolve({"Fn::Sub": "${!Literal}-${AWS::Region}"}) == "${Literal}-ap-southeast-2"


def test_sub_with_variable_map(resolver):
    value = {"Fn::Sub": ["${Name}.${AWS::Region}", {"Name": {"Fn::GetAtt": ["UploadsBucket", "Arn"]}}]}
    assert resolver.resolve(value) == "arn:aws:s3:::bulkingest-uploads.ap-southeast-2"


def test_sub_unknown_name_is_an_error(resolver):
    with pytest.raises(UnresolvableError):
        resolver.resolve({"Fn::Sub": "${NotCreated}"})


def test_select_of_split(resolver):
    arn = {"Fn::GetAtt": ["ApiFunction", "Arn"]}
    assert resolver.resolve({"Fn::Select": [1, {"Fn::Split": [":", arn]}]}) == "aws"
    assert resolver.resolve({"Fn::Select": [3, {"Fn::Split": [":", arn]}]}) == "ap-southeast-2"
    assert resolver.resolve({"Fn::Select": ["0", ["x", "y"]]}) == "x"


def test_split_returns_all_parts(resolver):
    assert resolver.resolve({"Fn::Split": ["/", "a/b//c"]}) == ["a", "b", "", "c"]


def test_authorizer_uri_as_cdk_emits_it(resolver):
    arn = {"Fn::GetAtt": ["ApiFunction", "Arn"]}
    uri = {"Fn::Join": ["", [
        "arn:", {"Fn::Select": [1, {"Fn::Split": [":", arn]}]},
        ":apigateway:", {"Fn::Select": [3, {"Fn::Split": [":", arn]}]},
        ":lambda:path/2015-03-31/functions/", arn, "/invocations",
    ]]}
    assert resolver.resolve(uri) == (
        "arn:aws:apigateway:ap-southeast-2:lambda:path/2015-03-31/functions/"
        "arn:aws:lambda:ap-southeast-2:123456789012:function:BulkIngest-ApiFunction/invocations"
    )


def test_resolve_walks_plain_dicts_and_lists(resolver):
    properties = {
        "Environment": {"Variables": {"BUCKET": {"Ref": "UploadsBucket"}, "STATIC": "x", "N": 3}},
        "Layers": [{"Ref": "AWS::Region"}, "literal"],
    }
    assert resolver.resolve(properties) == {
        "Environment": {"Variables": {"BUCKET": "bulkingest-uploads", "STATIC": "x", "N": 3}},
        "Layers": ["ap-southeast-2", "literal"],
    }


# -- creation order --------------------------------------------------------------------------------

def resource(kind: str = "AWS::Test::Thing", depends_on=None, **properties) -> dict:
    res = {"Type": kind, "Properties": properties}
    if depends_on is not None:
        res["DependsOn"] = depends_on
    return res


def test_creation_order_puts_dependencies_first():
    template = Template({"Resources": {
        "Function": resource(Role={"Fn::GetAtt": ["Role", "Arn"]},
                             Environment={"Variables": {"T": {"Ref": "Table"}}}),
        "Permission": resource(FunctionName={"Ref": "Function"},
                               SourceArn={"Fn::Sub": "arn:${AWS::Partition}:execute-api:${AWS::Region}:${Api}/*"}),
        "Api": resource(),
        "Role": resource(Policy={"Fn::Sub": "${Table.Arn}/index/*"}),
        "Table": resource(),
        "Stage": resource(depends_on="Permission"),
        "Literal": resource(Text={"Fn::Sub": "${!Function}"}),
    }})
    order = template.creation_order()
    assert sorted(order) == sorted(template.resources)
    position = {name: index for index, name in enumerate(order)}
    for before, after in [("Role", "Function"), ("Table", "Function"), ("Table", "Role"),
                          ("Function", "Permission"), ("Api", "Permission"), ("Permission", "Stage")]:
        assert position[before] < position[after], f"{before} must come before {after}"


def test_dependencies_ignore_pseudo_parameters_and_escaped_names():
    template = Template({"Resources": {
        "A": resource(X={"Fn::Sub": "${AWS::Region}-${!B}"}, Y={"Ref": "AWS::AccountId"}),
        "B": resource(Z={"Fn::GetAtt": "C.Arn"}),
        "C": resource(depends_on=["A"]),
    }})
    assert template.dependencies("A") == set()
    assert template.dependencies("B") == {"C"}
    assert template.dependencies("C") == {"A"}
    assert template.creation_order() == ["A", "C", "B"]


def test_circular_references_are_reported():
    template = Template({"Resources": {
        "A": resource(X={"Ref": "B"}),
        "B": resource(X={"Fn::GetAtt": ["A", "Arn"]}),
    }})
    with pytest.raises(UnresolvableError, match=r"circular reference"):
        template.creation_order()


def test_of_type_filters_resources():
    template = Template({"Resources": {
        "T1": resource("AWS::DynamoDB::Table"), "B": resource("AWS::S3::Bucket"),
        "T2": resource("AWS::DynamoDB::Table"),
    }})
    assert set(template.of_type("AWS::DynamoDB::Table")) == {"T1", "T2"}
    assert template.of_type("AWS::SQS::Queue") == {}
